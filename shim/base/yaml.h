/* YAML (and JSON, which is YAML) into yajl trees, with source positions.
 *
 * kc_yaml_parse() reads one or more documents ("---") into yajl_val trees that the
 * json.h helpers and yajl_tree_free() handle like any parsed JSON. Each document keeps
 * a table from every node's JSON Pointer ("/spec/replicas") to its line and column and
 * a display path ("spec.replicas", "containers[0].image") so callers can say
 * "demo.yaml:23: spec.template.spec.containers[0].foo: ...". A mapping value's position
 * is its key's. Plain scalars resolve as Kubernetes' YAML reader does (YAML 1.1): null
 * (~, null, empty), booleans (true/false, yes/no, on/off in their three spellings), ints
 * (decimal, 0x, 0o, leading-zero octal, underscores), floats; quoted scalars and "!!str"
 * are strings. Refused: anchors and aliases, other explicit tags, non-scalar or
 * duplicate keys, .inf/.nan (no JSON form), NUL in strings, nesting past
 * KC_JSON_MAX_DEPTH, inputs over KC_YAML_MAX_INPUT. Empty documents are skipped. */
#ifndef KC_BASE_YAML_H
#define KC_BASE_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "error.h"

#define KC_YAML_MAX_INPUT (4u << 20)
#define KC_YAML_MAX_NODES 1000000u
#define KC_YAML_MAX_DOCS 1024u

struct kc_yaml_pos {
	char *pointer; /* JSON Pointer, "" for the root */
	char *display; /* "spec.containers[0].image", "" for the root */
	unsigned line; /* 1-based */
	unsigned col;  /* 1-based */
};

struct kc_yaml_doc {
	yajl_val root;
	struct kc_yaml_pos *pos; /* sorted by pointer */
	size_t npos;
};

struct kc_yaml {
	struct kc_yaml_doc *docs;
	size_t ndocs;
};

/* name labels error messages ("NAME:LINE:COL: problem"); NULL means "<input>". */
int kc_yaml_parse(const char *buf, size_t len, const char *name, struct kc_yaml **out,
		  kc_err_t *err);
/* Reads a file (bounded by KC_YAML_MAX_INPUT) and parses it; "-" reads stdin. */
int kc_yaml_load_file(const char *path, struct kc_yaml **out, kc_err_t *err);
void kc_yaml_free(struct kc_yaml *y);

/* Position of the node at pointer, or NULL when the document has no such node. */
const struct kc_yaml_pos *kc_yaml_pos(const struct kc_yaml_doc *doc, const char *pointer);
/* Line of the node at pointer, 0 when unknown. */
unsigned kc_yaml_line(const struct kc_yaml_doc *doc, const char *pointer);

static inline void kc_yaml_freep(struct kc_yaml **y)
{
	kc_yaml_free(*y);
}
#define cleanup_yaml __attribute__((cleanup(kc_yaml_freep)))

#endif

/* This header shadows libyaml's <yaml.h> for code compiled in shim/base (meson puts the
 * source directory on the include path). yaml.c defines KC_YAML_LIBYAML and includes
 * <yaml.h>: whichever file that finds, libyaml's header ends up included. */
#if defined(KC_YAML_LIBYAML) && !defined(YAML_H)
#include_next <yaml.h>
#endif
