/* JSON on yajl's tree: bounded parsing and typed lookups by JSON Pointer
 * (RFC 6901, "/Config/Labels/io.kctl.app", "/Mounts/0/Name"). A missing key
 * or a wrong type is an error naming the path, never a crash. The kc_json_opt_*
 * variants treat a missing key as absent (return 0, *out untouched) but still
 * fail on a wrong type. Generation helpers wrap yajl_gen. */
#ifndef KC_BASE_JSON_H
#define KC_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "error.h"

#define KC_JSON_MAX_DEPTH 128

int kc_json_parse(const char *buf, size_t len, yajl_val *out, kc_err_t *err);

/* Node at path, or NULL when absent (an array index out of range is absent). */
yajl_val kc_json_find(yajl_val root, const char *path);

int kc_json_get(yajl_val root, const char *path, yajl_val *out, kc_err_t *err);
int kc_json_get_str(yajl_val root, const char *path, const char **out, kc_err_t *err);
int kc_json_get_int(yajl_val root, const char *path, int64_t *out, kc_err_t *err);
int kc_json_get_double(yajl_val root, const char *path, double *out, kc_err_t *err);
int kc_json_get_bool(yajl_val root, const char *path, bool *out, kc_err_t *err);
int kc_json_get_obj(yajl_val root, const char *path, yajl_val *out, kc_err_t *err);
int kc_json_get_arr(yajl_val root, const char *path, yajl_val *out, kc_err_t *err);

int kc_json_opt_str(yajl_val root, const char *path, const char **out, kc_err_t *err);
int kc_json_opt_int(yajl_val root, const char *path, int64_t *out, kc_err_t *err);
int kc_json_opt_bool(yajl_val root, const char *path, bool *out, kc_err_t *err);
int kc_json_opt_obj(yajl_val root, const char *path, yajl_val *out, kc_err_t *err);
int kc_json_opt_arr(yajl_val root, const char *path, yajl_val *out, kc_err_t *err);

/* Value for an object key (exact match, no pointer syntax), or NULL. */
yajl_val kc_json_member(yajl_val obj, const char *key);
/* Appends "~0"/"~1"-escaped key to a pointer prefix: "/Labels" + "a/b" -> "/Labels/a~1b". */
char *kc_json_path_join(const char *prefix, const char *key);

static inline void kc_json_freep(yajl_val *v)
{
	if (*v)
		yajl_tree_free(*v);
}
#define cleanup_json __attribute__((cleanup(kc_json_freep)))

/* Generator: yajl_gen with beautify as asked, validating UTF-8. */
yajl_gen kc_jgen_new(bool pretty);
void kc_jgen_str(yajl_gen g, const char *s); /* NULL emits null */
void kc_jgen_key(yajl_gen g, const char *k);
void kc_jgen_kv_str(yajl_gen g, const char *k, const char *v);
void kc_jgen_kv_int(yajl_gen g, const char *k, int64_t v);
void kc_jgen_kv_double(yajl_gen g, const char *k, double v);
void kc_jgen_kv_bool(yajl_gen g, const char *k, bool v);
/* A NULL-terminated string list as an array ([] for NULL). */
void kc_jgen_kv_strv(yajl_gen g, const char *k, char *const *v);
/* A count of milliseconds, or null when negative (not measured, did not run). */
void kc_jgen_kv_ms(yajl_gen g, const char *k, int64_t ms);
/* Copies a parsed tree into the generator. */
void kc_jgen_value(yajl_gen g, yajl_val v);
/* Buffer as a new NUL-terminated string. */
char *kc_jgen_finish(yajl_gen g, size_t *len);
static inline void kc_jgen_freep(yajl_gen *g)
{
	if (*g)
		yajl_gen_free(*g);
}
#define cleanup_jgen __attribute__((cleanup(kc_jgen_freep)))

#endif
