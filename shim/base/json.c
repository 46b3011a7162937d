/* JSON parsing, pointer lookups and generation on yajl: see json.h. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "cleanup.h"

/* yajl's tree builder and yajl_tree_free recurse, so nesting is bounded
 * before parsing rather than trusting the peer. */
static int nesting_ok(const char *buf, size_t len)
{
	int depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > KC_JSON_MAX_DEPTH)
				return 0;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 1;
}

int kc_json_parse(const char *buf, size_t len, yajl_val *out, kc_err_t *err)
{
	char errbuf[256];
	if (!nesting_ok(buf, len))
		return kc_err_new(err, KC_E_PROTO, "invalid JSON: nested deeper than %d",
				  KC_JSON_MAX_DEPTH);
	/* yajl_tree_parse wants a NUL-terminated string; an embedded NUL would
	 * silently truncate the document, so refuse it. */
	if (memchr(buf, '\0', len))
		return kc_err_new(err, KC_E_PROTO, "invalid JSON: NUL byte at offset %zu",
				  (size_t)((const char *)memchr(buf, '\0', len) - buf));
	cleanup_free char *copy = malloc(len + 1);
	if (!copy)
		return kc_err_sys(err, ENOMEM, "parsing JSON");
	memcpy(copy, buf, len);
	copy[len] = '\0';
	errbuf[0] = '\0';
	yajl_val v = yajl_tree_parse(copy, errbuf, sizeof errbuf);
	if (!v) {
		/* yajl's message spans lines with a caret diagram; keep the first. */
		char *nl = strchr(errbuf, '\n');
		if (nl)
			*nl = '\0';
		return kc_err_new(err, KC_E_PROTO, "invalid JSON: %s",
				  errbuf[0] ? errbuf : "parse error");
	}
	*out = v;
	return 0;
}

yajl_val kc_json_member(yajl_val obj, const char *key)
{
	if (!obj || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

/* Decodes one pointer token ("a~1b" -> "a/b") into buf; returns the end of the
 * token in the path. */
static const char *next_token(const char *p, char *buf, size_t cap, int *too_long)
{
	size_t n = 0;
	*too_long = 0;
	for (; *p && *p != '/'; p++) {
		char c = *p;
		if (c == '~' && (p[1] == '0' || p[1] == '1')) {
			c = p[1] == '0' ? '~' : '/';
			p++;
		}
		if (n + 1 >= cap) {
			*too_long = 1;
			continue;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	return p;
}

static int parse_index(const char *tok, size_t *out)
{
	if (!*tok || (tok[0] == '0' && tok[1]))
		return -1;
	size_t v = 0;
	for (const char *c = tok; *c; c++) {
		if (*c < '0' || *c > '9' || v > (SIZE_MAX - 9) / 10)
			return -1;
		v = v * 10 + (size_t)(*c - '0');
	}
	*out = v;
	return 0;
}

yajl_val kc_json_find(yajl_val root, const char *path)
{
	yajl_val cur = root;
	if (!path || !*path)
		return cur;
	if (*path != '/')
		return NULL;
	const char *p = path;
	char tok[512];
	while (cur && *p == '/') {
		int too_long;
		p = next_token(p + 1, tok, sizeof tok, &too_long);
		if (too_long)
			return NULL;
		if (YAJL_IS_OBJECT(cur)) {
			cur = kc_json_member(cur, tok);
		} else if (YAJL_IS_ARRAY(cur)) {
			size_t i;
			if (parse_index(tok, &i) < 0 || i >= cur->u.array.len)
				return NULL;
			cur = cur->u.array.values[i];
		} else {
			return NULL;
		}
	}
	return cur;
}

static const char *type_name(yajl_val v)
{
	if (!v || YAJL_IS_NULL(v))
		return "null";
	if (YAJL_IS_STRING(v))
		return "string";
	if (YAJL_IS_NUMBER(v))
		return "number";
	if (YAJL_IS_OBJECT(v))
		return "object";
	if (YAJL_IS_ARRAY(v))
		return "array";
	return "boolean";
}

int kc_json_get(yajl_val root, const char *path, yajl_val *out, kc_err_t *err)
{
	yajl_val v = kc_json_find(root, path);
	if (!v)
		return kc_err_new(err, KC_E_PROTO, "JSON %s: missing", path);
	*out = v;
	return 0;
}

static int wrong_type(const char *path, const char *want, yajl_val v, kc_err_t *err)
{
	return kc_err_new(err, KC_E_PROTO, "JSON %s: expected %s, got %s", path, want,
			  type_name(v));
}

/* Shared body of get/opt: missing is an error only when `required`. Returns 1
 * when found (v set), 0 when absent and optional, -1 on error. */
static int lookup(yajl_val root, const char *path, bool required, yajl_val *v, kc_err_t *err)
{
	*v = kc_json_find(root, path);
	if (*v && !YAJL_IS_NULL(*v))
		return 1;
	if (!required)
		return 0;
	return kc_err_new(err, KC_E_PROTO, "JSON %s: %s", path, *v ? "is null" : "missing");
}

static int as_str(yajl_val root, const char *path, bool req, const char **out, kc_err_t *err)
{
	yajl_val v;
	int r = lookup(root, path, req, &v, err);
	if (r <= 0)
		return r;
	if (!YAJL_IS_STRING(v))
		return wrong_type(path, "string", v, err);
	*out = v->u.string;
	return 0;
}

static int as_int(yajl_val root, const char *path, bool req, int64_t *out, kc_err_t *err)
{
	yajl_val v;
	int r = lookup(root, path, req, &v, err);
	if (r <= 0)
		return r;
	if (!YAJL_IS_INTEGER(v))
		return wrong_type(path, "integer", v, err);
	*out = v->u.number.i;
	return 0;
}

static int as_bool(yajl_val root, const char *path, bool req, bool *out, kc_err_t *err)
{
	yajl_val v;
	int r = lookup(root, path, req, &v, err);
	if (r <= 0)
		return r;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return wrong_type(path, "boolean", v, err);
	*out = YAJL_IS_TRUE(v);
	return 0;
}

static int as_kind(yajl_val root, const char *path, bool req, bool want_obj, yajl_val *out,
		   kc_err_t *err)
{
	yajl_val v;
	int r = lookup(root, path, req, &v, err);
	if (r <= 0)
		return r;
	if (want_obj ? !YAJL_IS_OBJECT(v) : !YAJL_IS_ARRAY(v))
		return wrong_type(path, want_obj ? "object" : "array", v, err);
	*out = v;
	return 0;
}

int kc_json_get_str(yajl_val root, const char *path, const char **out, kc_err_t *err)
{
	return as_str(root, path, true, out, err);
}

int kc_json_get_int(yajl_val root, const char *path, int64_t *out, kc_err_t *err)
{
	return as_int(root, path, true, out, err);
}

int kc_json_get_double(yajl_val root, const char *path, double *out, kc_err_t *err)
{
	yajl_val v;
	if (lookup(root, path, true, &v, err) < 0)
		return -1;
	if (!YAJL_IS_NUMBER(v))
		return wrong_type(path, "number", v, err);
	*out = YAJL_IS_INTEGER(v) ? (double)v->u.number.i : v->u.number.d;
	return 0;
}

int kc_json_get_bool(yajl_val root, const char *path, bool *out, kc_err_t *err)
{
	return as_bool(root, path, true, out, err);
}

int kc_json_get_obj(yajl_val root, const char *path, yajl_val *out, kc_err_t *err)
{
	return as_kind(root, path, true, true, out, err);
}

int kc_json_get_arr(yajl_val root, const char *path, yajl_val *out, kc_err_t *err)
{
	return as_kind(root, path, true, false, out, err);
}

int kc_json_opt_str(yajl_val root, const char *path, const char **out, kc_err_t *err)
{
	return as_str(root, path, false, out, err);
}

int kc_json_opt_int(yajl_val root, const char *path, int64_t *out, kc_err_t *err)
{
	return as_int(root, path, false, out, err);
}

int kc_json_opt_bool(yajl_val root, const char *path, bool *out, kc_err_t *err)
{
	return as_bool(root, path, false, out, err);
}

int kc_json_opt_obj(yajl_val root, const char *path, yajl_val *out, kc_err_t *err)
{
	return as_kind(root, path, false, true, out, err);
}

int kc_json_opt_arr(yajl_val root, const char *path, yajl_val *out, kc_err_t *err)
{
	return as_kind(root, path, false, false, out, err);
}

char *kc_json_path_join(const char *prefix, const char *key)
{
	size_t plen = strlen(prefix), extra = 0;
	for (const char *c = key; *c; c++)
		extra += (*c == '~' || *c == '/') ? 2 : 1;
	char *s = malloc(plen + 1 + extra + 1);
	if (!s)
		return NULL;
	memcpy(s, prefix, plen);
	char *w = s + plen;
	*w++ = '/';
	for (const char *c = key; *c; c++) {
		if (*c == '~' || *c == '/') {
			*w++ = '~';
			*w++ = *c == '~' ? '0' : '1';
		} else {
			*w++ = *c;
		}
	}
	*w = '\0';
	return s;
}

yajl_gen kc_jgen_new(bool pretty)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	if (!g)
		return NULL;
	yajl_gen_config(g, yajl_gen_beautify, pretty ? 1 : 0);
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	if (pretty)
		yajl_gen_config(g, yajl_gen_indent_string, "  ");
	return g;
}

void kc_jgen_str(yajl_gen g, const char *s)
{
	if (!s) {
		yajl_gen_null(g);
		return;
	}
	if (yajl_gen_string(g, (const unsigned char *)s, strlen(s)) == yajl_gen_invalid_string)
		yajl_gen_string(g, (const unsigned char *)"\xef\xbf\xbd", 3); /* U+FFFD */
}

void kc_jgen_key(yajl_gen g, const char *k)
{
	kc_jgen_str(g, k);
}

void kc_jgen_kv_str(yajl_gen g, const char *k, const char *v)
{
	kc_jgen_str(g, k);
	kc_jgen_str(g, v);
}

void kc_jgen_kv_int(yajl_gen g, const char *k, int64_t v)
{
	kc_jgen_str(g, k);
	yajl_gen_integer(g, v);
}

void kc_jgen_kv_double(yajl_gen g, const char *k, double v)
{
	kc_jgen_str(g, k);
	if (isfinite(v))
		yajl_gen_double(g, v);
	else
		yajl_gen_null(g);
}

void kc_jgen_kv_bool(yajl_gen g, const char *k, bool v)
{
	kc_jgen_str(g, k);
	yajl_gen_bool(g, v);
}

void kc_jgen_kv_strv(yajl_gen g, const char *k, char *const *v)
{
	kc_jgen_str(g, k);
	yajl_gen_array_open(g);
	for (; v && *v; v++)
		kc_jgen_str(g, *v);
	yajl_gen_array_close(g);
}

void kc_jgen_kv_ms(yajl_gen g, const char *k, int64_t ms)
{
	kc_jgen_str(g, k);
	if (ms < 0)
		yajl_gen_null(g);
	else
		yajl_gen_integer(g, ms);
}

void kc_jgen_value(yajl_gen g, yajl_val v)
{
	if (!v || YAJL_IS_NULL(v)) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		kc_jgen_str(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		const char *r = v->u.number.r;
		if (r)
			yajl_gen_number(g, r, strlen(r));
		else if (YAJL_IS_INTEGER(v))
			yajl_gen_integer(g, v->u.number.i);
		else
			yajl_gen_double(g, v->u.number.d);
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			kc_jgen_str(g, v->u.object.keys[i]);
			kc_jgen_value(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			kc_jgen_value(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	}
}

char *kc_jgen_finish(yajl_gen g, size_t *len)
{
	const unsigned char *buf;
	size_t n;
	if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok)
		return NULL;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, buf, n);
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}
