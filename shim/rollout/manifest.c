/* Deployment manifest -> struct kc_deploy_spec: an allowlist walk that names the file,
 * line and field path of anything the Docker backend cannot honour. */
#include "manifest.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"

struct ctx {
	const struct kc_yaml_doc *doc;
	const char *file;
};

static int vfail(struct ctx *c, const char *ptr, kc_err_t *err, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	const struct kc_yaml_pos *p = kc_yaml_pos(c->doc, ptr);
	if (!p)
		return kc_err_new(err, KC_E_INVALID, "%s: %s: %s", c->file, *ptr ? ptr : "/", msg);
	return kc_err_new(err, KC_E_INVALID, "%s:%u: %s: %s", c->file, p->line,
			  *p->display ? p->display : "(document)", msg);
}

/* Error at the node at ptr. */
static int fail(struct ctx *c, const char *ptr, kc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct ctx *c, const char *ptr, kc_err_t *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vfail(c, ptr, err, fmt, ap);
	va_end(ap);
	return rc;
}

/* Error at member key of the object at pp. */
static int failk(struct ctx *c, const char *pp, const char *key, kc_err_t *err, const char *fmt,
		 ...) __attribute__((format(printf, 5, 6)));
static int failk(struct ctx *c, const char *pp, const char *key, kc_err_t *err, const char *fmt,
		 ...)
{
	cleanup_free char *p = kc_json_path_join(pp, key);
	if (!p)
		return kc_err_sys(err, ENOMEM, "parsing manifest");
	va_list ap;
	va_start(ap, fmt);
	int rc = vfail(c, p, err, fmt, ap);
	va_end(ap);
	return rc;
}

static int nomem(kc_err_t *err)
{
	return kc_err_sys(err, ENOMEM, "parsing manifest");
}

static const char *type_name(yajl_val v)
{
	if (YAJL_IS_STRING(v))
		return "a string";
	if (YAJL_IS_INTEGER(v))
		return "an integer";
	if (YAJL_IS_NUMBER(v))
		return "a number";
	if (YAJL_IS_OBJECT(v))
		return "a mapping";
	if (YAJL_IS_ARRAY(v))
		return "a list";
	if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
		return "a boolean";
	return "null";
}

/* A member, treating an explicit null as absent (as Kubernetes does). */
static yajl_val get(yajl_val obj, const char *key)
{
	yajl_val v = kc_json_member(obj, key);
	return v && !YAJL_IS_NULL(v) ? v : NULL;
}

static int only_keys(struct ctx *c, const char *pp, yajl_val obj, const char *const *allowed,
		     kc_err_t *err)
{
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *k = obj->u.object.keys[i];
		const char *const *a = allowed;
		while (*a && strcmp(*a, k) != 0)
			a++;
		if (!*a)
			return failk(c, pp, k, err, "not supported by the Docker backend");
	}
	return 0;
}

/* The object at obj[key] (NULL when absent) and its pointer. */
static int opt_obj(struct ctx *c, const char *pp, yajl_val obj, const char *key, yajl_val *out,
		   char **ptr, kc_err_t *err)
{
	yajl_val v = get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!YAJL_IS_OBJECT(v))
		return failk(c, pp, key, err, "expected a mapping, got %s", type_name(v));
	if (!(*ptr = kc_json_path_join(pp, key)))
		return nomem(err);
	*out = v;
	return 0;
}

static int req_obj(struct ctx *c, const char *pp, yajl_val obj, const char *key, yajl_val *out,
		   char **ptr, kc_err_t *err)
{
	if (opt_obj(c, pp, obj, key, out, ptr, err) < 0)
		return -1;
	if (!*out)
		return fail(c, pp, err, "missing required field \"%s\"", key);
	return 0;
}

static int opt_arr(struct ctx *c, const char *pp, yajl_val obj, const char *key, yajl_val *out,
		   char **ptr, kc_err_t *err)
{
	yajl_val v = get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return failk(c, pp, key, err, "expected a list, got %s", type_name(v));
	if (!(*ptr = kc_json_path_join(pp, key)))
		return nomem(err);
	*out = v;
	return 0;
}

static int opt_str(struct ctx *c, const char *pp, yajl_val obj, const char *key, char **out,
		   kc_err_t *err)
{
	yajl_val v = get(obj, key);
	if (!v)
		return 0;
	if (!YAJL_IS_STRING(v))
		return failk(c, pp, key, err, "expected a string, got %s", type_name(v));
	free(*out);
	if (!(*out = strdup(v->u.string)))
		return nomem(err);
	return 0;
}

static int req_str(struct ctx *c, const char *pp, yajl_val obj, const char *key, char **out,
		   kc_err_t *err)
{
	if (opt_str(c, pp, obj, key, out, err) < 0)
		return -1;
	if (!*out)
		return fail(c, pp, err, "missing required field \"%s\"", key);
	if (!**out)
		return failk(c, pp, key, err, "must not be empty");
	return 0;
}

static int opt_int(struct ctx *c, const char *pp, yajl_val obj, const char *key, long long min,
		   long long max, int *out, kc_err_t *err)
{
	yajl_val v = get(obj, key);
	if (!v)
		return 0;
	if (!YAJL_IS_INTEGER(v))
		return failk(c, pp, key, err, "expected an integer, got %s", type_name(v));
	long long i = v->u.number.i;
	if (i < min || i > max)
		return failk(c, pp, key, err, "%lld is out of range (%lld to %lld)", i, min, max);
	*out = (int)i;
	return 0;
}

static int opt_bool(struct ctx *c, const char *pp, yajl_val obj, const char *key, bool *out,
		    kc_err_t *err)
{
	yajl_val v = get(obj, key);
	if (!v)
		return 0;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return failk(c, pp, key, err, "expected true or false, got %s", type_name(v));
	*out = YAJL_IS_TRUE(v);
	return 0;
}

/* A list of strings as a NULL-terminated vector; *out stays NULL when absent. */
static int opt_strv(struct ctx *c, const char *pp, yajl_val obj, const char *key, char ***out,
		    kc_err_t *err)
{
	yajl_val a;
	cleanup_free char *ap = NULL;
	if (opt_arr(c, pp, obj, key, &a, &ap, err) < 0)
		return -1;
	if (!a)
		return 0;
	size_t n = a->u.array.len;
	char **v = calloc(n + 1, sizeof *v);
	if (!v)
		return nomem(err);
	*out = v;
	for (size_t i = 0; i < n; i++) {
		yajl_val s = a->u.array.values[i];
		if (!YAJL_IS_STRING(s)) {
			char idx[24];
			snprintf(idx, sizeof idx, "%zu", i);
			return failk(c, ap, idx, err, "expected a string, got %s", type_name(s));
		}
		if (!(v[i] = strdup(s->u.string)))
			return nomem(err);
	}
	return 0;
}

/* A mapping of strings (labels, annotations, matchLabels). */
static int opt_kv(struct ctx *c, const char *pp, yajl_val obj, const char *key, struct kc_deploy_kv **out,
		  size_t *n, kc_err_t *err)
{
	yajl_val o;
	cleanup_free char *op = NULL;
	if (opt_obj(c, pp, obj, key, &o, &op, err) < 0)
		return -1;
	if (!o)
		return 0;
	size_t len = o->u.object.len;
	struct kc_deploy_kv *kv = calloc(len ? len : 1, sizeof *kv);
	if (!kv)
		return nomem(err);
	*out = kv;
	for (size_t i = 0; i < len; i++) {
		yajl_val v = o->u.object.values[i];
		const char *k = o->u.object.keys[i];
		if (!YAJL_IS_STRING(v))
			return failk(c, op, k, err, "expected a string, got %s (quote it)",
				     type_name(v));
		if (!(kv[i].key = strdup(k)) || !(kv[i].value = strdup(v->u.string)))
			return nomem(err);
		*n = i + 1;
	}
	return 0;
}

static const char *kv_get(const struct kc_deploy_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

static bool alnum_lower(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* RFC 1123 label (dots=false) or subdomain (dots=true), as Kubernetes names are. */
static bool dns_name(const char *s, size_t max, bool dots)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (alnum_lower(ch) || ch == '-')
			continue;
		if (dots && ch == '.' && alnum_lower(s[i - 1]) && alnum_lower(s[i + 1]))
			continue;
		return false;
	}
	return true;
}

/* IANA service name, as a named containerPort must be. */
static bool port_name_ok(const char *s)
{
	bool letter = false;
	if (!dns_name(s, 15, false) || strstr(s, "--"))
		return false;
	for (; *s; s++)
		letter |= *s >= 'a' && *s <= 'z';
	return letter;
}

int kc_int_or_percent_resolve(const char *raw, int replicas, bool round_up, int *out, kc_err_t *err)
{
	size_t n = strlen(raw);
	bool pct = n > 0 && raw[n - 1] == '%';
	size_t digits = pct ? n - 1 : n;
	if (digits == 0 || digits > 9 || strspn(raw, "0123456789") != digits)
		return kc_err_new(
		    err, KC_E_INVALID,
		    "\"%s\": expected a non-negative integer or a percentage (\"25%%\")", raw);
	long long v = strtoll(raw, NULL, 10);
	if (pct) {
		long long scaled = v * replicas;
		v = round_up ? (scaled + 99) / 100 : scaled / 100;
	}
	if (v > INT_MAX)
		return kc_err_new(err, KC_E_INVALID, "\"%s\" is too large", raw);
	*out = (int)v;
	return 0;
}

/* maxSurge / maxUnavailable: an integer or "N%" (a plain numeric string is refused, as
 * Kubernetes refuses it). */
static int int_or_percent(struct ctx *c, const char *pp, yajl_val obj, const char *key, bool max100,
			  char **raw, kc_err_t *err)
{
	yajl_val v = get(obj, key);
	if (!v)
		return 0;
	char buf[32];
	if (YAJL_IS_INTEGER(v)) {
		if (v->u.number.i < 0 || v->u.number.i > INT_MAX)
			return failk(c, pp, key, err, "must be a non-negative integer");
		snprintf(buf, sizeof buf, "%lld", v->u.number.i);
	} else if (YAJL_IS_STRING(v)) {
		const char *s = v->u.string;
		size_t n = strlen(s);
		if (n < 2 || n > 11 || s[n - 1] != '%' || strspn(s, "0123456789") != n - 1)
			return failk(c, pp, key, err,
				     "\"%s\": expected an integer or a percentage such as \"25%%\"",
				     s);
		if (max100 && strtol(s, NULL, 10) > 100)
			return failk(c, pp, key, err, "must not be more than 100%%");
		snprintf(buf, sizeof buf, "%s", s);
	} else {
		return failk(c, pp, key, err, "expected an integer or a percentage, got %s",
			     type_name(v));
	}
	free(*raw);
	if (!(*raw = strdup(buf)))
		return nomem(err);
	return 0;
}

static bool raw_is_zero(const char *raw)
{
	return strtol(raw, NULL, 10) == 0;
}

/* Kubernetes quantity for emptyDir.sizeLimit: integer bytes or N with a binary or
 * decimal suffix (Ki, Mi, Gi, Ti, k, M, G, T). */
static int quantity(struct ctx *c, const char *pp, yajl_val obj, const char *key, int64_t *out,
		    kc_err_t *err)
{
	yajl_val v = get(obj, key);
	if (!v)
		return 0;
	if (YAJL_IS_INTEGER(v) && v->u.number.i >= 0) {
		*out = v->u.number.i;
		return 0;
	}
	if (!YAJL_IS_STRING(v))
		return failk(c, pp, key, err, "expected a quantity such as \"64Mi\", got %s",
			     type_name(v));
	static const struct {
		const char *sfx;
		int64_t mul;
	} sfx[] = {{"", 1},
		   {"Ki", INT64_C(1) << 10},
		   {"Mi", INT64_C(1) << 20},
		   {"Gi", INT64_C(1) << 30},
		   {"Ti", INT64_C(1) << 40},
		   {"k", 1000},
		   {"M", 1000000},
		   {"G", 1000000000},
		   {"T", INT64_C(1000000000000)}};
	const char *s = v->u.string;
	size_t d = strspn(s, "0123456789");
	if (d == 0 || d > 12)
		goto bad;
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		if (strcmp(s + d, sfx[i].sfx) == 0) {
			int64_t n = strtoll(s, NULL, 10);
			if (n > INT64_MAX / sfx[i].mul)
				goto bad;
			*out = n * sfx[i].mul;
			return 0;
		}
	}
bad:
	return failk(c, pp, key, err, "\"%s\": expected a quantity such as \"64Mi\"", s);
}

static int parse_metadata(struct ctx *c, struct kc_deploy_spec *m, yajl_val root, kc_err_t *err)
{
	static const char *const keys[] = {"name", "namespace", "labels", "annotations", NULL};
	yajl_val md;
	cleanup_free char *mp = NULL;
	if (req_obj(c, "", root, "metadata", &md, &mp, err) < 0 ||
	    only_keys(c, mp, md, keys, err) < 0)
		return -1;
	if (req_str(c, mp, md, "name", &m->name, err) < 0 ||
	    opt_str(c, mp, md, "namespace", &m->namespace, err) < 0 ||
	    opt_kv(c, mp, md, "labels", &m->labels, &m->nlabels, err) < 0 ||
	    opt_kv(c, mp, md, "annotations", &m->annotations, &m->nannotations, err) < 0)
		return -1;
	if (!dns_name(m->name, 253, true))
		return failk(c, mp, "name", err,
			     "\"%s\" is not a valid name (lower case letters, digits, '-', '.')",
			     m->name);
	if (m->namespace && !dns_name(m->namespace, 63, false))
		return failk(c, mp, "namespace", err, "\"%s\" is not a valid namespace",
			     m->namespace);
	/* kctl's own annotations: a typo must not silently fall back to a default. */
	cleanup_free char *ap = kc_json_path_join(mp, "annotations");
	if (!ap)
		return nomem(err);
	for (size_t i = 0; i < m->nannotations; i++) {
		const char *k = m->annotations[i].key, *v = m->annotations[i].value;
		if (strcmp(k, KC_ANNOTATION_STRATEGY) == 0) {
			if (strcmp(v, "blue-green") != 0)
				return failk(
				    c, ap, k, err,
				    "\"%s\": the only value is \"blue-green\" (rolling and "
				    "recreate come from spec.strategy)",
				    v);
			m->strategy = KC_STRATEGY_BLUE_GREEN;
		} else if (strncmp(k, "io.kctl.", 8) == 0 || strncmp(k, "io.kctl/", 8) == 0) {
			return failk(c, ap, k, err, "unknown kctl annotation (known: %s)",
				     KC_ANNOTATION_STRATEGY);
		}
	}
	return 0;
}

static int parse_strategy(struct ctx *c, struct kc_deploy_spec *m, const char *sp, yajl_val spec,
			  kc_err_t *err)
{
	static const char *const keys[] = {"type", "rollingUpdate", NULL};
	static const char *const ru_keys[] = {"maxSurge", "maxUnavailable", NULL};
	yajl_val st, ru = NULL;
	cleanup_free char *stp = NULL;
	cleanup_free char *rup = NULL;
	cleanup_free char *type = NULL;
	if (opt_obj(c, sp, spec, "strategy", &st, &stp, err) < 0)
		return -1;
	if (st) {
		if (only_keys(c, stp, st, keys, err) < 0 ||
		    opt_str(c, stp, st, "type", &type, err) < 0 ||
		    opt_obj(c, stp, st, "rollingUpdate", &ru, &rup, err) < 0)
			return -1;
	}
	if (type && strcmp(type, "Recreate") == 0) {
		if (ru)
			return failk(c, stp, "rollingUpdate", err,
				     "may not be set when type is Recreate");
		if (m->strategy == KC_STRATEGY_BLUE_GREEN)
			return failk(c, stp, "type", err,
				     "Recreate conflicts with the " KC_ANNOTATION_STRATEGY
				     " annotation (blue-green)");
		m->strategy = KC_STRATEGY_RECREATE;
	} else if (type && strcmp(type, "RollingUpdate") != 0) {
		return failk(c, stp, "type", err, "\"%s\": expected RollingUpdate or Recreate",
			     type);
	}
	if (ru) {
		if (only_keys(c, rup, ru, ru_keys, err) < 0 ||
		    int_or_percent(c, rup, ru, "maxSurge", false, &m->max_surge_raw, err) < 0 ||
		    int_or_percent(c, rup, ru, "maxUnavailable", true, &m->max_unavailable_raw,
				   err) < 0)
			return -1;
		if (raw_is_zero(m->max_surge_raw) && raw_is_zero(m->max_unavailable_raw))
			return fail(c, rup, err, "maxSurge and maxUnavailable may not both be 0");
	}
	if (kc_int_or_percent_resolve(m->max_surge_raw, m->replicas, true, &m->max_surge, err) <
		0 ||
	    kc_int_or_percent_resolve(m->max_unavailable_raw, m->replicas, false,
				      &m->max_unavailable, err) < 0)
		return kc_err_wrap(err, "%s: spec.strategy", c->file);
	/* Kubernetes' ResolveFenceposts: a rollout must be able to make progress. */
	if (m->max_surge == 0 && m->max_unavailable == 0)
		m->max_unavailable = 1;
	return 0;
}

static int parse_volumes(struct ctx *c, const char *tsp, yajl_val tspec, struct kc_deploy_mount **vols,
			 size_t *nvols, kc_err_t *err)
{
	static const char *const keys[] = {"name", "emptyDir", "persistentVolumeClaim", NULL};
	static const char *const ed_keys[] = {"medium", "sizeLimit", NULL};
	static const char *const pvc_keys[] = {"claimName", "readOnly", NULL};
	yajl_val a;
	cleanup_free char *vp = NULL;
	if (opt_arr(c, tsp, tspec, "volumes", &a, &vp, err) < 0)
		return -1;
	if (!a)
		return 0;
	*vols = calloc(a->u.array.len + 1, sizeof **vols);
	if (!*vols)
		return nomem(err);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		struct kc_deploy_mount *vol = &(*vols)[i];
		*nvols = i + 1;
		cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%zu", vp, i) < 0)
			return nomem(err);
		if (!YAJL_IS_OBJECT(v))
			return fail(c, p, err, "expected a mapping, got %s", type_name(v));
		if (only_keys(c, p, v, keys, err) < 0 ||
		    req_str(c, p, v, "name", &vol->name, err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp((*vols)[j].name, vol->name) == 0)
				return failk(c, p, "name", err, "duplicate volume name \"%s\"",
					     vol->name);
		yajl_val ed, pvc;
		cleanup_free char *edp = NULL;
		cleanup_free char *pvcp = NULL;
		if (opt_obj(c, p, v, "emptyDir", &ed, &edp, err) < 0 ||
		    opt_obj(c, p, v, "persistentVolumeClaim", &pvc, &pvcp, err) < 0)
			return -1;
		if (!!ed + !!pvc != 1)
			return fail(c, p, err,
				    "needs exactly one of emptyDir, persistentVolumeClaim (an "
				    "empty emptyDir is written \"emptyDir: {}\")");
		if (ed) {
			cleanup_free char *medium = NULL;
			vol->kind = KC_VOLUME_TMPFS;
			if (only_keys(c, edp, ed, ed_keys, err) < 0 ||
			    opt_str(c, edp, ed, "medium", &medium, err) < 0 ||
			    quantity(c, edp, ed, "sizeLimit", &vol->size_bytes, err) < 0)
				return -1;
			/* The Docker backend keeps all emptyDirs in memory (tmpfs). */
			if (medium && *medium && strcmp(medium, "Memory") != 0)
				return failk(c, edp, "medium", err,
					     "\"%s\": expected \"\" or Memory", medium);
		} else {
			vol->kind = KC_VOLUME_NAMED;
			if (only_keys(c, pvcp, pvc, pvc_keys, err) < 0 ||
			    req_str(c, pvcp, pvc, "claimName", &vol->source, err) < 0 ||
			    opt_bool(c, pvcp, pvc, "readOnly", &vol->read_only, err) < 0)
				return -1;
			const char *s = vol->source;
			if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
			      (s[0] >= '0' && s[0] <= '9')) ||
			    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_.-") != strlen(s))
				return failk(c, pvcp, "claimName", err,
					     "\"%s\" is not a valid Docker volume name", s);
		}
	}
	return 0;
}

static int parse_ports(struct ctx *c, struct kc_deploy_spec *m, const char *cp, yajl_val ctr,
		       kc_err_t *err)
{
	static const char *const keys[] = {"name", "containerPort", "protocol", "hostPort", NULL};
	yajl_val a;
	cleanup_free char *pp = NULL;
	if (opt_arr(c, cp, ctr, "ports", &a, &pp, err) < 0)
		return -1;
	if (!a)
		return 0;
	m->ports = calloc(a->u.array.len + 1, sizeof *m->ports);
	if (!m->ports)
		return nomem(err);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		struct kc_deploy_port *port = &m->ports[i];
		m->nports = i + 1;
		cleanup_free char *p = NULL;
		cleanup_free char *proto = NULL;
		if (asprintf(&p, "%s/%zu", pp, i) < 0)
			return nomem(err);
		if (!YAJL_IS_OBJECT(v))
			return fail(c, p, err, "expected a mapping, got %s", type_name(v));
		int host_port = 0;
		if (only_keys(c, p, v, keys, err) < 0 ||
		    opt_str(c, p, v, "name", &port->name, err) < 0 ||
		    opt_int(c, p, v, "containerPort", 1, 65535, &port->container_port, err) < 0 ||
		    opt_int(c, p, v, "hostPort", 1, 65535, &host_port, err) < 0 ||
		    opt_str(c, p, v, "protocol", &proto, err) < 0)
			return -1;
		if (!port->container_port)
			return fail(c, p, err, "missing required field \"containerPort\"");
		if (proto && strcmp(proto, "TCP") != 0)
			return failk(c, p, "protocol", err, "\"%s\": only TCP is supported", proto);
		/* Replicas run on the host network, where a hostPort can only be the port. */
		if (host_port && host_port != port->container_port)
			return failk(c, p, "hostPort", err,
				     "must equal containerPort on the host network");
		if (port->name) {
			if (!port_name_ok(port->name))
				return failk(c, p, "name", err,
					     "\"%s\" is not a valid port name (at most 15 lower "
					     "case letters, digits, '-')",
					     port->name);
			for (size_t j = 0; j < i; j++)
				if (m->ports[j].name && strcmp(m->ports[j].name, port->name) == 0)
					return failk(c, p, "name", err,
						     "duplicate port name \"%s\"", port->name);
		}
	}
	return 0;
}

/* A probe port: a number, or the name of one of the container's ports. */
static int probe_port(struct ctx *c, struct kc_deploy_spec *m, const char *hp, yajl_val h,
		      struct kc_deploy_probe *pr, kc_err_t *err)
{
	yajl_val v = get(h, "port");
	if (!v)
		return fail(c, hp, err, "missing required field \"port\"");
	if (YAJL_IS_INTEGER(v)) {
		if (v->u.number.i < 1 || v->u.number.i > 65535)
			return failk(c, hp, "port", err, "%lld is out of range (1 to 65535)",
				     v->u.number.i);
		pr->port = (int)v->u.number.i;
		return 0;
	}
	if (!YAJL_IS_STRING(v))
		return failk(c, hp, "port", err, "expected a port number or name, got %s",
			     type_name(v));
	for (size_t i = 0; i < m->nports; i++) {
		if (m->ports[i].name && strcmp(m->ports[i].name, v->u.string) == 0) {
			pr->port = m->ports[i].container_port;
			if (!(pr->port_name = strdup(v->u.string)))
				return nomem(err);
			return 0;
		}
	}
	return failk(c, hp, "port", err, "no container port named \"%s\"", v->u.string);
}

static int parse_probe(struct ctx *c, struct kc_deploy_spec *m, const char *cp, yajl_val ctr,
		       kc_err_t *err)
{
	static const char *const keys[] = {"httpGet",
					   "tcpSocket",
					   "exec",
					   "initialDelaySeconds",
					   "periodSeconds",
					   "timeoutSeconds",
					   "successThreshold",
					   "failureThreshold",
					   NULL};
	static const char *const http_keys[] = {"path", "port", "scheme", NULL};
	static const char *const tcp_keys[] = {"port", NULL};
	static const char *const exec_keys[] = {"command", NULL};
	struct kc_deploy_probe *pr = &m->readiness;
	yajl_val p, http, tcp, ex;
	cleanup_free char *pp = NULL;
	cleanup_free char *hp = NULL;
	cleanup_free char *tp = NULL;
	cleanup_free char *ep = NULL;
	if (opt_obj(c, cp, ctr, "readinessProbe", &p, &pp, err) < 0)
		return -1;
	if (!p)
		return 0;
	if (only_keys(c, pp, p, keys, err) < 0 ||
	    opt_int(c, pp, p, "initialDelaySeconds", 0, 3600, &pr->initial_delay_s, err) < 0 ||
	    opt_int(c, pp, p, "periodSeconds", 1, 3600, &pr->period_s, err) < 0 ||
	    opt_int(c, pp, p, "timeoutSeconds", 1, 3600, &pr->timeout_s, err) < 0 ||
	    opt_int(c, pp, p, "successThreshold", 1, 1000, &pr->success_threshold, err) < 0 ||
	    opt_int(c, pp, p, "failureThreshold", 1, 1000, &pr->failure_threshold, err) < 0 ||
	    opt_obj(c, pp, p, "httpGet", &http, &hp, err) < 0 ||
	    opt_obj(c, pp, p, "tcpSocket", &tcp, &tp, err) < 0 ||
	    opt_obj(c, pp, p, "exec", &ex, &ep, err) < 0)
		return -1;
	if (!!http + !!tcp + !!ex != 1)
		return fail(c, pp, err, "needs exactly one of httpGet, tcpSocket, exec");
	if (http) {
		cleanup_free char *scheme = NULL;
		pr->kind = KC_PROBE_HTTP;
		if (only_keys(c, hp, http, http_keys, err) < 0 ||
		    opt_str(c, hp, http, "path", &pr->path, err) < 0 ||
		    opt_str(c, hp, http, "scheme", &scheme, err) < 0 ||
		    probe_port(c, m, hp, http, pr, err) < 0)
			return -1;
		if (scheme && strcmp(scheme, "HTTP") != 0)
			return failk(c, hp, "scheme", err, "\"%s\": only HTTP is supported",
				     scheme);
		if (!pr->path && !(pr->path = strdup("/")))
			return nomem(err);
		if (pr->path[0] != '/')
			return failk(c, hp, "path", err, "must start with '/'");
		if (strpbrk(pr->path, " \r\n\t"))
			return failk(c, hp, "path", err, "must not contain white space");
	} else if (tcp) {
		pr->kind = KC_PROBE_TCP;
		if (only_keys(c, tp, tcp, tcp_keys, err) < 0 ||
		    probe_port(c, m, tp, tcp, pr, err) < 0)
			return -1;
	} else {
		pr->kind = KC_PROBE_EXEC;
		if (only_keys(c, ep, ex, exec_keys, err) < 0 ||
		    opt_strv(c, ep, ex, "command", &pr->command, err) < 0)
			return -1;
		if (!pr->command || !pr->command[0])
			return fail(c, ep, err, "needs a non-empty \"command\"");
	}
	return 0;
}

static int parse_env(struct ctx *c, struct kc_deploy_spec *m, const char *cp, yajl_val ctr,
		     kc_err_t *err)
{
	/* valueFrom (secrets, config maps, field refs) has no Docker equivalent: the walk
	 * names it as unsupported. */
	static const char *const keys[] = {"name", "value", NULL};
	yajl_val a;
	cleanup_free char *ep = NULL;
	if (opt_arr(c, cp, ctr, "env", &a, &ep, err) < 0)
		return -1;
	if (!a)
		return 0;
	m->env = calloc(a->u.array.len + 1, sizeof *m->env);
	if (!m->env)
		return nomem(err);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		struct kc_deploy_kv *kv = &m->env[i];
		m->nenv = i + 1;
		cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%zu", ep, i) < 0)
			return nomem(err);
		if (!YAJL_IS_OBJECT(v))
			return fail(c, p, err, "expected a mapping, got %s", type_name(v));
		if (only_keys(c, p, v, keys, err) < 0 ||
		    req_str(c, p, v, "name", &kv->key, err) < 0 ||
		    opt_str(c, p, v, "value", &kv->value, err) < 0)
			return -1;
		if (strchr(kv->key, '='))
			return failk(c, p, "name", err, "must not contain '='");
		if (!kv->value && !(kv->value = strdup("")))
			return nomem(err);
	}
	return 0;
}

static int parse_mounts(struct ctx *c, struct kc_deploy_spec *m, const char *cp, yajl_val ctr,
			struct kc_deploy_mount *vols, size_t nvols, kc_err_t *err)
{
	static const char *const keys[] = {"name", "mountPath", "readOnly", NULL};
	yajl_val a;
	cleanup_free char *mp = NULL;
	if (opt_arr(c, cp, ctr, "volumeMounts", &a, &mp, err) < 0)
		return -1;
	if (!a)
		return 0;
	m->mounts = calloc(a->u.array.len + 1, sizeof *m->mounts);
	if (!m->mounts)
		return nomem(err);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		struct kc_deploy_mount *mt = &m->mounts[i];
		m->nmounts = i + 1;
		cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%zu", mp, i) < 0)
			return nomem(err);
		if (!YAJL_IS_OBJECT(v))
			return fail(c, p, err, "expected a mapping, got %s", type_name(v));
		bool ro = false;
		if (only_keys(c, p, v, keys, err) < 0 ||
		    req_str(c, p, v, "name", &mt->name, err) < 0 ||
		    req_str(c, p, v, "mountPath", &mt->mount_path, err) < 0 ||
		    opt_bool(c, p, v, "readOnly", &ro, err) < 0)
			return -1;
		if (mt->mount_path[0] != '/' || strchr(mt->mount_path, ':') ||
		    strchr(mt->mount_path, ','))
			return failk(c, p, "mountPath", err,
				     "must be an absolute path without ':' or ','");
		if (strcmp(mt->mount_path, "/") == 0)
			return failk(c, p, "mountPath", err, "must not be /");
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->mounts[j].mount_path, mt->mount_path) == 0)
				return failk(c, p, "mountPath", err, "\"%s\" is mounted twice",
					     mt->mount_path);
		const struct kc_deploy_mount *vol = NULL;
		for (size_t j = 0; j < nvols; j++)
			if (strcmp(vols[j].name, mt->name) == 0)
				vol = &vols[j];
		if (!vol)
			return failk(c, p, "name", err,
				     "no volume named \"%s\" in spec.template.spec.volumes",
				     mt->name);
		mt->kind = vol->kind;
		mt->size_bytes = vol->size_bytes;
		mt->read_only = ro || vol->read_only;
		if (vol->source && !(mt->source = strdup(vol->source)))
			return nomem(err);
	}
	return 0;
}

static void free_mounts(struct kc_deploy_mount *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].mount_path);
		free(v[i].source);
	}
	free(v);
}

struct vols {
	struct kc_deploy_mount *v;
	size_t n;
};
static void vols_freep(struct vols *v)
{
	free_mounts(v->v, v->n);
}

static int parse_container(struct ctx *c, struct kc_deploy_spec *m, const char *tsp, yajl_val tspec,
			   const struct vols *vols, kc_err_t *err)
{
	static const char *const keys[] = {
	    "name",	    "image",	  "command",	     "args",
	    "env",	    "ports",	  "readinessProbe",  "securityContext",
	    "volumeMounts", "workingDir", "imagePullPolicy", NULL};
	static const char *const sc_keys[] = {"readOnlyRootFilesystem", NULL};
	yajl_val a;
	cleanup_free char *ap = NULL;
	if (opt_arr(c, tsp, tspec, "containers", &a, &ap, err) < 0)
		return -1;
	if (!a || a->u.array.len == 0)
		return fail(c, a ? ap : tsp, err, "needs one container");
	cleanup_free char *cp = NULL;
	if (a->u.array.len > 1) {
		if (asprintf(&cp, "%s/1", ap) < 0)
			return nomem(err);
		return fail(c, cp, err, "only one container is supported by the Docker backend");
	}
	if (asprintf(&cp, "%s/0", ap) < 0)
		return nomem(err);
	yajl_val ctr = a->u.array.values[0];
	if (!YAJL_IS_OBJECT(ctr))
		return fail(c, cp, err, "expected a mapping, got %s", type_name(ctr));
	if (only_keys(c, cp, ctr, keys, err) < 0 ||
	    req_str(c, cp, ctr, "name", &m->container_name, err) < 0 ||
	    req_str(c, cp, ctr, "image", &m->image, err) < 0 ||
	    opt_str(c, cp, ctr, "workingDir", &m->working_dir, err) < 0 ||
	    opt_str(c, cp, ctr, "imagePullPolicy", &m->image_pull_policy, err) < 0 ||
	    opt_strv(c, cp, ctr, "command", &m->command, err) < 0 ||
	    opt_strv(c, cp, ctr, "args", &m->args, err) < 0 || parse_env(c, m, cp, ctr, err) < 0 ||
	    parse_ports(c, m, cp, ctr, err) < 0 || parse_probe(c, m, cp, ctr, err) < 0 ||
	    parse_mounts(c, m, cp, ctr, vols->v, vols->n, err) < 0)
		return -1;
	if (!dns_name(m->container_name, 63, false))
		return failk(c, cp, "name", err, "\"%s\" is not a valid container name",
			     m->container_name);
	if (strpbrk(m->image, " \t\r\n"))
		return failk(c, cp, "image", err, "must not contain white space");
	if (m->working_dir && m->working_dir[0] != '/')
		return failk(c, cp, "workingDir", err, "must be an absolute path");
	/* kctl resolves every tag through the registry, which is what Always means. */
	if (m->image_pull_policy && strcmp(m->image_pull_policy, "Always") != 0 &&
	    strcmp(m->image_pull_policy, "IfNotPresent") != 0)
		return failk(c, cp, "imagePullPolicy", err,
			     "\"%s\": kctl always resolves the image through the registry "
			     "(Always or IfNotPresent)",
			     m->image_pull_policy);
	yajl_val sc;
	cleanup_free char *scp = NULL;
	if (opt_obj(c, cp, ctr, "securityContext", &sc, &scp, err) < 0)
		return -1;
	if (sc && (only_keys(c, scp, sc, sc_keys, err) < 0 ||
		   opt_bool(c, scp, sc, "readOnlyRootFilesystem", &m->read_only_rootfs, err) < 0))
		return -1;
	return 0;
}

static int parse_spec(struct ctx *c, struct kc_deploy_spec *m, yajl_val root, kc_err_t *err)
{
	static const char *const keys[] = {"replicas",
					   "selector",
					   "template",
					   "strategy",
					   "revisionHistoryLimit",
					   "progressDeadlineSeconds",
					   "minReadySeconds",
					   NULL};
	static const char *const sel_keys[] = {"matchLabels", NULL};
	static const char *const t_keys[] = {"metadata", "spec", NULL};
	static const char *const tm_keys[] = {"labels", "annotations", NULL};
	static const char *const ts_keys[] = {"containers",
					      "volumes",
					      "hostNetwork",
					      "restartPolicy",
					      "terminationGracePeriodSeconds",
					      NULL};
	yajl_val spec, sel, tpl, tmeta, tspec;
	cleanup_free char *sp = NULL;
	cleanup_free char *selp = NULL;
	cleanup_free char *tp = NULL;
	cleanup_free char *tmp = NULL;
	cleanup_free char *tsp = NULL;
	if (req_obj(c, "", root, "spec", &spec, &sp, err) < 0 ||
	    only_keys(c, sp, spec, keys, err) < 0 ||
	    opt_int(c, sp, spec, "replicas", 0, KC_DEPLOY_SPEC_MAX_REPLICAS, &m->replicas, err) <
		0 ||
	    opt_int(c, sp, spec, "revisionHistoryLimit", 0, INT32_MAX, &m->revision_history_limit,
		    err) < 0 ||
	    opt_int(c, sp, spec, "progressDeadlineSeconds", 1, INT32_MAX, &m->progress_deadline_s,
		    err) < 0 ||
	    opt_int(c, sp, spec, "minReadySeconds", 0, INT32_MAX, &m->min_ready_s, err) < 0 ||
	    parse_strategy(c, m, sp, spec, err) < 0)
		return -1;
	if (m->progress_deadline_s <= m->min_ready_s)
		return failk(c, sp, "progressDeadlineSeconds", err,
			     "must be greater than minReadySeconds");

	if (req_obj(c, sp, spec, "selector", &sel, &selp, err) < 0 ||
	    only_keys(c, selp, sel, sel_keys, err) < 0 ||
	    opt_kv(c, selp, sel, "matchLabels", &m->selector, &m->nselector, err) < 0)
		return -1;
	if (m->nselector == 0)
		return fail(c, selp, err, "needs matchLabels");

	if (req_obj(c, sp, spec, "template", &tpl, &tp, err) < 0 ||
	    only_keys(c, tp, tpl, t_keys, err) < 0 ||
	    opt_obj(c, tp, tpl, "metadata", &tmeta, &tmp, err) < 0)
		return -1;
	if (tmeta && (only_keys(c, tmp, tmeta, tm_keys, err) < 0 ||
		      opt_kv(c, tmp, tmeta, "labels", &m->pod_labels, &m->npod_labels, err) < 0 ||
		      opt_kv(c, tmp, tmeta, "annotations", &m->pod_annotations,
			     &m->npod_annotations, err) < 0))
		return -1;
	for (size_t i = 0; i < m->nselector; i++) {
		const char *v = kv_get(m->pod_labels, m->npod_labels, m->selector[i].key);
		if (!v || strcmp(v, m->selector[i].value) != 0)
			return failk(c, selp, "matchLabels", err,
				     "does not match spec.template.metadata.labels (%s)",
				     m->selector[i].key);
	}

	if (req_obj(c, tp, tpl, "spec", &tspec, &tsp, err) < 0 ||
	    only_keys(c, tsp, tspec, ts_keys, err) < 0 ||
	    opt_int(c, tsp, tspec, "terminationGracePeriodSeconds", 0, 86400,
		    &m->termination_grace_s, err) < 0)
		return -1;
	bool host_net = true;
	cleanup_free char *restart = NULL;
	if (opt_bool(c, tsp, tspec, "hostNetwork", &host_net, err) < 0 ||
	    opt_str(c, tsp, tspec, "restartPolicy", &restart, err) < 0)
		return -1;
	if (!host_net)
		return failk(c, tsp, "hostNetwork", err,
			     "the Docker backend runs replicas on the host network only");
	if (restart && strcmp(restart, "Always") != 0)
		return failk(c, tsp, "restartPolicy", err,
			     "\"%s\": a Deployment's pods restart Always", restart);
	__attribute__((cleanup(vols_freep))) struct vols vols = {0};
	if (parse_volumes(c, tsp, tspec, &vols.v, &vols.n, err) < 0)
		return -1;
	return parse_container(c, m, tsp, tspec, &vols, err);
}

void kc_deploy_spec_free(struct kc_deploy_spec *m)
{
	if (!m)
		return;
	struct {
		struct kc_deploy_kv *kv;
		size_t n;
	} maps[] = {{m->labels, m->nlabels},
		    {m->annotations, m->nannotations},
		    {m->selector, m->nselector},
		    {m->pod_labels, m->npod_labels},
		    {m->pod_annotations, m->npod_annotations},
		    {m->env, m->nenv}};
	for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
		for (size_t j = 0; j < maps[i].n; j++) {
			free(maps[i].kv[j].key);
			free(maps[i].kv[j].value);
		}
		free(maps[i].kv);
	}
	for (size_t i = 0; i < m->nports; i++)
		free(m->ports[i].name);
	free(m->ports);
	free(m->readiness.path);
	free(m->readiness.port_name);
	kc_strv_free(m->readiness.command);
	free_mounts(m->mounts, m->nmounts);
	kc_strv_free(m->command);
	kc_strv_free(m->args);
	free(m->source);
	free(m->name);
	free(m->namespace);
	free(m->max_surge_raw);
	free(m->max_unavailable_raw);
	free(m->container_name);
	free(m->image);
	free(m->image_pull_policy);
	free(m->working_dir);
	free(m);
}

int kc_deploy_spec_from_doc(const struct kc_yaml_doc *doc, const char *name,
			    struct kc_deploy_spec **out, kc_err_t *err)
{
	static const char *const keys[] = {"apiVersion", "kind", "metadata", "spec", NULL};
	struct ctx c = {.doc = doc, .file = name ? name : "<manifest>"};
	yajl_val root = doc->root;
	if (!YAJL_IS_OBJECT(root))
		return fail(&c, "", err, "expected a Deployment (a mapping), got %s",
			    type_name(root));
	cleanup_deploy_spec struct kc_deploy_spec *m = calloc(1, sizeof *m);
	if (!m || !(m->source = strdup(c.file)) || !(m->max_surge_raw = strdup("25%")) ||
	    !(m->max_unavailable_raw = strdup("25%")))
		return nomem(err);
	m->replicas = 1;
	m->revision_history_limit = 10;
	m->progress_deadline_s = 600;
	m->termination_grace_s = 30;
	m->read_only_rootfs = true;
	m->readiness = (struct kc_deploy_probe){
	    .period_s = 10, .timeout_s = 1, .success_threshold = 1, .failure_threshold = 3};
	cleanup_free char *api = NULL;
	cleanup_free char *kind = NULL;
	if (only_keys(&c, "", root, keys, err) < 0 ||
	    req_str(&c, "", root, "apiVersion", &api, err) < 0 ||
	    req_str(&c, "", root, "kind", &kind, err) < 0)
		return -1;
	if (strcmp(api, "apps/v1") != 0)
		return fail(&c, "/apiVersion", err, "\"%s\": expected apps/v1", api);
	if (strcmp(kind, "Deployment") != 0)
		return fail(&c, "/kind", err, "\"%s\": kctl rolls out a Deployment", kind);
	if (parse_metadata(&c, m, root, err) < 0 || parse_spec(&c, m, root, err) < 0)
		return -1;
	*out = kc_steal(m);
	return 0;
}

int kc_deploy_spec_parse(const char *buf, size_t len, const char *name, struct kc_deploy_spec **out,
			 kc_err_t *err)
{
	cleanup_yaml struct kc_yaml *y = NULL;
	if (!name)
		name = "<manifest>";
	if (kc_yaml_parse(buf, len, name, &y, err) < 0)
		return -1;
	if (y->ndocs == 0)
		return kc_err_new(err, KC_E_INVALID, "%s: no Deployment in the file", name);
	if (y->ndocs > 1)
		return kc_err_new(err, KC_E_INVALID,
				  "%s:%u: a second document: kctl reads one Deployment per file",
				  name, kc_yaml_line(&y->docs[1], ""));
	return kc_deploy_spec_from_doc(&y->docs[0], name, out, err);
}

int kc_deploy_spec_load(const char *path, struct kc_deploy_spec **out, kc_err_t *err)
{
	cleanup_yaml struct kc_yaml *y = NULL;
	if (kc_yaml_load_file(path, &y, err) < 0)
		return -1;
	if (y->ndocs == 0)
		return kc_err_new(err, KC_E_INVALID, "%s: no Deployment in the file", path);
	if (y->ndocs > 1)
		return kc_err_new(err, KC_E_INVALID,
				  "%s:%u: a second document: kctl reads one Deployment per file",
				  path, kc_yaml_line(&y->docs[1], ""));
	return kc_deploy_spec_from_doc(&y->docs[0], path, out, err);
}

const char *kc_strategy_name(enum kc_strategy s)
{
	switch (s) {
	case KC_STRATEGY_RECREATE:
		return "Recreate";
	case KC_STRATEGY_BLUE_GREEN:
		return "BlueGreen";
	default:
		return "RollingUpdate";
	}
}

static void gen_kv(yajl_gen g, const char *key, const struct kc_deploy_kv *kv, size_t n)
{
	kc_jgen_key(g, key);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < n; i++)
		kc_jgen_kv_str(g, kv[i].key, kv[i].value);
	yajl_gen_map_close(g);
}

/* A string list, left out when absent (the image's default applies). */
static void gen_strv(yajl_gen g, const char *key, char **v)
{
	if (!v)
		return;
	kc_jgen_key(g, key);
	yajl_gen_array_open(g);
	for (; *v; v++)
		kc_jgen_str(g, *v);
	yajl_gen_array_close(g);
}

/* "25%" stays a string; "1" goes back to the integer it was written as. */
static void gen_int_or_percent(yajl_gen g, const char *key, const char *raw)
{
	if (!raw)
		raw = "25%";
	char *end;
	long v = strtol(raw, &end, 10);
	if (*raw && !*end)
		kc_jgen_kv_int(g, key, v);
	else
		kc_jgen_kv_str(g, key, raw);
}

/* A probe port by the name it was written with, else by number. */
static void gen_port(yajl_gen g, const struct kc_deploy_probe *p)
{
	if (p->port_name)
		kc_jgen_kv_str(g, "port", p->port_name);
	else
		kc_jgen_kv_int(g, "port", p->port);
}

static void gen_probe(yajl_gen g, const struct kc_deploy_probe *p)
{
	kc_jgen_key(g, "readinessProbe");
	yajl_gen_map_open(g);
	if (p->kind == KC_PROBE_HTTP) {
		kc_jgen_key(g, "httpGet");
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "path", p->path);
		gen_port(g, p);
		yajl_gen_map_close(g);
	} else if (p->kind == KC_PROBE_TCP) {
		kc_jgen_key(g, "tcpSocket");
		yajl_gen_map_open(g);
		gen_port(g, p);
		yajl_gen_map_close(g);
	} else {
		kc_jgen_key(g, "exec");
		yajl_gen_map_open(g);
		gen_strv(g, "command", p->command);
		yajl_gen_map_close(g);
	}
	kc_jgen_kv_int(g, "initialDelaySeconds", p->initial_delay_s);
	kc_jgen_kv_int(g, "periodSeconds", p->period_s);
	kc_jgen_kv_int(g, "timeoutSeconds", p->timeout_s);
	kc_jgen_kv_int(g, "successThreshold", p->success_threshold);
	kc_jgen_kv_int(g, "failureThreshold", p->failure_threshold);
	yajl_gen_map_close(g);
}

static void gen_container(yajl_gen g, const struct kc_deploy_spec *m, const char *image)
{
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "name", m->container_name);
	kc_jgen_kv_str(g, "image", image ? image : m->image);
	gen_strv(g, "command", m->command);
	gen_strv(g, "args", m->args);
	if (m->working_dir)
		kc_jgen_kv_str(g, "workingDir", m->working_dir);
	if (m->image_pull_policy)
		kc_jgen_kv_str(g, "imagePullPolicy", m->image_pull_policy);
	kc_jgen_key(g, "env");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nenv; i++) {
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", m->env[i].key);
		kc_jgen_kv_str(g, "value", m->env[i].value);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	kc_jgen_key(g, "ports");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nports; i++) {
		yajl_gen_map_open(g);
		if (m->ports[i].name)
			kc_jgen_kv_str(g, "name", m->ports[i].name);
		kc_jgen_kv_int(g, "containerPort", m->ports[i].container_port);
		kc_jgen_kv_str(g, "protocol", "TCP");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (m->readiness.kind != KC_PROBE_NONE)
		gen_probe(g, &m->readiness);
	kc_jgen_key(g, "securityContext");
	yajl_gen_map_open(g);
	kc_jgen_kv_bool(g, "readOnlyRootFilesystem", m->read_only_rootfs);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "volumeMounts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nmounts; i++) {
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", m->mounts[i].name);
		kc_jgen_kv_str(g, "mountPath", m->mounts[i].mount_path);
		if (m->mounts[i].read_only)
			kc_jgen_kv_bool(g, "readOnly", true);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

static void gen_volumes(yajl_gen g, const struct kc_deploy_spec *m)
{
	kc_jgen_key(g, "volumes");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nmounts; i++) {
		const struct kc_deploy_mount *mt = &m->mounts[i];
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", mt->name);
		if (mt->kind == KC_VOLUME_TMPFS) {
			kc_jgen_key(g, "emptyDir");
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "medium", "Memory");
			if (mt->size_bytes > 0)
				kc_jgen_kv_int(g, "sizeLimit", mt->size_bytes);
			yajl_gen_map_close(g);
		} else {
			kc_jgen_key(g, "persistentVolumeClaim");
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "claimName", mt->source);
			yajl_gen_map_close(g);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* spec.template: everything that shapes a replica, and nothing else. */
static void gen_pod_template(yajl_gen g, const struct kc_deploy_spec *m, const char *image)
{
	yajl_gen_map_open(g);
	kc_jgen_key(g, "metadata");
	yajl_gen_map_open(g);
	gen_kv(g, "labels", m->pod_labels, m->npod_labels);
	gen_kv(g, "annotations", m->pod_annotations, m->npod_annotations);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "spec");
	yajl_gen_map_open(g);
	kc_jgen_kv_bool(g, "hostNetwork", true);
	kc_jgen_kv_int(g, "terminationGracePeriodSeconds", m->termination_grace_s);
	kc_jgen_key(g, "containers");
	yajl_gen_array_open(g);
	gen_container(g, m, image);
	yajl_gen_array_close(g);
	gen_volumes(g, m);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

static int finish(yajl_gen g, char **out, kc_err_t *err)
{
	size_t len;
	char *s = kc_jgen_finish(g, &len);
	if (!s)
		return kc_err_new(err, KC_E_INVALID,
				  "manifest: cannot encode as JSON (invalid UTF-8?)");
	*out = s;
	return 0;
}

int kc_deploy_spec_template_json(const struct kc_deploy_spec *m, const char *image, char **out,
				 kc_err_t *err)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return nomem(err);
	gen_pod_template(g, m, image);
	return finish(g, out, err);
}

int kc_deploy_spec_to_json(const struct kc_deploy_spec *m, const char *image, bool pretty,
			   char **out, kc_err_t *err)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(pretty);
	if (!g)
		return nomem(err);
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "apiVersion", "apps/v1");
	kc_jgen_kv_str(g, "kind", "Deployment");
	kc_jgen_key(g, "metadata");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "name", m->name);
	if (m->namespace)
		kc_jgen_kv_str(g, "namespace", m->namespace);
	gen_kv(g, "labels", m->labels, m->nlabels);
	gen_kv(g, "annotations", m->annotations, m->nannotations);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "spec");
	yajl_gen_map_open(g);
	kc_jgen_kv_int(g, "replicas", m->replicas);
	kc_jgen_kv_int(g, "revisionHistoryLimit", m->revision_history_limit);
	kc_jgen_kv_int(g, "progressDeadlineSeconds", m->progress_deadline_s);
	kc_jgen_kv_int(g, "minReadySeconds", m->min_ready_s);
	kc_jgen_key(g, "strategy");
	yajl_gen_map_open(g);
	if (m->strategy == KC_STRATEGY_RECREATE) {
		kc_jgen_kv_str(g, "type", "Recreate");
	} else {
		kc_jgen_kv_str(g, "type", "RollingUpdate");
		kc_jgen_key(g, "rollingUpdate");
		yajl_gen_map_open(g);
		gen_int_or_percent(g, "maxSurge", m->max_surge_raw);
		gen_int_or_percent(g, "maxUnavailable", m->max_unavailable_raw);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	kc_jgen_key(g, "selector");
	yajl_gen_map_open(g);
	gen_kv(g, "matchLabels", m->selector, m->nselector);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "template");
	gen_pod_template(g, m, image);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	return finish(g, out, err);
}
