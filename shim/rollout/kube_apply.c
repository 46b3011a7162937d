/* The three-way patch of a client-side apply (kube_rollout.h), as kubectl's
 * jsonmergepatch.CreateThreeWayJSONMergePatch computes it: deletions come from
 * (last applied -> manifest), additions and changes from (live -> manifest); what
 * neither the last applied configuration nor the manifest names is left alone. */
#include "kube_rollout.h"

#include <string.h>

#include "shim/base/json.h"

bool kc_kube_json_equal(yajl_val a, yajl_val b)
{
	if (!a || !b)
		return a == b;
	if (YAJL_IS_NUMBER(a) && YAJL_IS_NUMBER(b)) {
		if (YAJL_IS_INTEGER(a) && YAJL_IS_INTEGER(b))
			return YAJL_GET_INTEGER(a) == YAJL_GET_INTEGER(b);
		return YAJL_GET_DOUBLE(a) == YAJL_GET_DOUBLE(b);
	}
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case yajl_t_string:
		return !strcmp(a->u.string, b->u.string);
	case yajl_t_array:
		if (a->u.array.len != b->u.array.len)
			return false;
		for (size_t i = 0; i < a->u.array.len; i++)
			if (!kc_kube_json_equal(a->u.array.values[i], b->u.array.values[i]))
				return false;
		return true;
	case yajl_t_object:
		/* Member order does not matter; the server re-orders freely. */
		if (a->u.object.len != b->u.object.len)
			return false;
		for (size_t i = 0; i < a->u.object.len; i++) {
			yajl_val bv = kc_json_member(b, a->u.object.keys[i]);
			if (!bv || !kc_kube_json_equal(a->u.object.values[i], bv))
				return false;
		}
		return true;
	default: /* true, false, null */
		return true;
	}
}

/* One object level. With g NULL it only counts, so a nested object is emitted
 * only when it has something in it (an empty {} would be a no-op, but noise). */
static size_t three_way(yajl_gen g, yajl_val o, yajl_val m, yajl_val c, int depth)
{
	size_t n = 0;
	if (g)
		yajl_gen_map_open(g);
	for (size_t i = 0; depth < KC_JSON_MAX_DEPTH && i < m->u.object.len; i++) {
		const char *key = m->u.object.keys[i];
		yajl_val mv = m->u.object.values[i];
		yajl_val cv = kc_json_member(c, key), ov = kc_json_member(o, key);
		if (YAJL_IS_OBJECT(mv) && YAJL_IS_OBJECT(cv)) {
			yajl_val sub_o = YAJL_IS_OBJECT(ov) ? ov : NULL;
			size_t sub = three_way(NULL, sub_o, mv, cv, depth + 1);
			if (sub && g) {
				kc_jgen_key(g, key);
				three_way(g, sub_o, mv, cv, depth + 1);
			}
			n += sub;
		} else if (YAJL_IS_NULL(mv) ? (cv && !YAJL_IS_NULL(cv))
					    : !kc_kube_json_equal(mv, cv)) {
			/* Scalars and lists are set whole: a merge patch has no list merge. A
			 * null in the manifest deletes (merge patch semantics), and is
			 * skipped when there is nothing to delete. */
			if (g) {
				kc_jgen_key(g, key);
				kc_jgen_value(g, mv);
			}
			n++;
		}
	}
	for (size_t i = 0; YAJL_IS_OBJECT(o) && i < o->u.object.len; i++) {
		const char *key = o->u.object.keys[i];
		/* Dropped from the manifest since the last apply: delete it, if it is
		 * still there. */
		if (kc_json_member(m, key) || !kc_json_member(c, key))
			continue;
		if (g) {
			kc_jgen_key(g, key);
			yajl_gen_null(g);
		}
		n++;
	}
	if (g)
		yajl_gen_map_close(g);
	return n;
}

size_t kc_kube_apply_patch(yajl_gen g, yajl_val original, yajl_val modified, yajl_val current)
{
	static const struct yajl_val_s empty = {.type = yajl_t_object};
	yajl_val m = YAJL_IS_OBJECT(modified) ? modified : (yajl_val)&empty;
	yajl_val o = YAJL_IS_OBJECT(original) ? original : NULL;
	yajl_val c = YAJL_IS_OBJECT(current) ? current : NULL;
	return three_way(g, o, m, c, 0);
}
