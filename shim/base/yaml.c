/* YAML to yajl trees with a pointer -> line table, on libyaml's event API.
 * Nodes are allocated the way yajl_tree.c allocates them (malloc per node, per key
 * and per string) so yajl_tree_free() releases them. Every node is attached to its
 * parent as soon as it exists, so on error freeing the partial root frees all. */
#define KC_YAML_LIBYAML 1
#include <yaml.h>
#include "yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"

struct frame {
	yajl_val v;
	size_t cap;	  /* allocated slots in keys/values (and klines) */
	const char *ptr;  /* borrowed from the position table */
	const char *disp; /* borrowed from the position table */
	char *key;	  /* pending mapping key, owned until attached */
	yaml_mark_t keymark;
	unsigned *klines; /* line of each key, for duplicate-key errors */
};

struct builder {
	const char *name;
	struct frame stack[KC_JSON_MAX_DEPTH + 1];
	size_t depth;
	yajl_val root;
	struct kc_yaml_pos *pos;
	size_t npos, cappos;
	size_t nodes;
	struct kc_yaml *out;
	size_t capdocs;
};

static int at(struct builder *b, yaml_mark_t m, kc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int at(struct builder *b, yaml_mark_t m, kc_err_t *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return kc_err_new(err, KC_E_INVALID, "%s:%zu:%zu: %s", b->name, m.line + 1, m.column + 1,
			  msg);
}

static void free_pos(struct kc_yaml_pos *pos, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(pos[i].pointer);
		free(pos[i].display);
	}
	free(pos);
}

/* Drops the document being built (after an error or when it is empty). */
static void reset_doc(struct builder *b)
{
	for (size_t i = 0; i < b->depth; i++) {
		free(b->stack[i].key);
		free(b->stack[i].klines);
	}
	b->depth = 0;
	if (b->root)
		yajl_tree_free(b->root);
	b->root = NULL;
	free_pos(b->pos, b->npos);
	b->pos = NULL;
	b->npos = b->cappos = 0;
}

static yajl_val node_new(yajl_type t)
{
	yajl_val v = calloc(1, sizeof *v);
	if (v)
		v->type = t;
	return v;
}

static bool is_one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

/* YAML 1.1 float syntax as Kubernetes' reader (go-yaml v2) accepts it, after '_' removal:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool float_syntax(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	size_t ip = strspn(s, "0123456789");
	s += ip;
	if (*s == '.') {
		s++;
		size_t fp = strspn(s, "0123456789");
		if (ip == 0 && fp == 0)
			return false;
		s += fp;
	} else if (ip == 0) {
		return false;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		size_t ep = strspn(s, "0123456789");
		if (ep == 0)
			return false;
		s += ep;
	}
	return *s == '\0';
}

/* strtoll with base detection as Go's ParseInt(s, 0, 64): 0x, 0o, 0b, leading 0 = octal. */
static bool parse_int(const char *s, long long *out)
{
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1]) {
		base = 8;
		p++;
	}
	if (!*p)
		return false;
	unsigned long long mag = 0;
	for (; *p; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return false;
		if (d >= base)
			return false;
		if (mag > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
			return false;
		mag = mag * (unsigned)base + (unsigned)d;
	}
	if (neg ? mag > (unsigned long long)LLONG_MAX + 1 : mag > (unsigned long long)LLONG_MAX)
		return false;
	*out = neg ? (long long)(0 - mag) : (long long)mag;
	return true;
}

static yajl_val number_node(long long i, double d, bool is_int)
{
	yajl_val v = node_new(yajl_t_number);
	if (!v)
		return NULL;
	char buf[64];
	if (is_int) {
		snprintf(buf, sizeof buf, "%lld", i);
		v->u.number.i = i;
		v->u.number.d = (double)i;
		v->u.number.flags = YAJL_NUMBER_INT_VALID | YAJL_NUMBER_DOUBLE_VALID;
	} else {
		/* Shortest text that reads back as the same double; always valid JSON. */
		snprintf(buf, sizeof buf, "%.15g", d);
		if (strtod(buf, NULL) != d)
			snprintf(buf, sizeof buf, "%.17g", d);
		v->u.number.d = d;
		v->u.number.flags = YAJL_NUMBER_DOUBLE_VALID;
	}
	v->u.number.r = strdup(buf);
	if (!v->u.number.r) {
		free(v);
		return NULL;
	}
	return v;
}

static yajl_val string_node(const char *s)
{
	yajl_val v = node_new(yajl_t_string);
	if (v && !(v->u.string = strdup(s))) {
		free(v);
		return NULL;
	}
	return v;
}

/* Plain scalar -> typed node; NULL with *bad set when it has no JSON form. */
static yajl_val resolve_plain(const char *s, const char **bad)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", "y",  "Y",	"yes",
					    "Yes",  "YES",  "on",   "On", "ON", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", "n",   "N",   "no",
					     "No",    "NO",    "off",	"Off", "OFF", NULL};
	static const char *const specials[] = {".inf",	".Inf",	 ".INF",  "+.inf", "+.Inf",
					       "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
					       ".NaN",	".NAN",	 NULL};
	*bad = NULL;
	if (is_one_of(s, nulls))
		return node_new(yajl_t_null);
	if (is_one_of(s, trues))
		return node_new(yajl_t_true);
	if (is_one_of(s, falses))
		return node_new(yajl_t_false);
	if (is_one_of(s, specials)) {
		*bad = "infinity and NaN have no JSON form";
		return NULL;
	}
	if (strchr("+-.0123456789", s[0])) {
		size_t n = strlen(s);
		cleanup_free char *plain = malloc(n + 1);
		if (!plain)
			return NULL;
		size_t j = 0;
		for (size_t i = 0; i < n; i++)
			if (s[i] != '_')
				plain[j++] = s[i];
		plain[j] = '\0';
		long long i;
		if (parse_int(plain, &i))
			return number_node(i, 0, true);
		if (float_syntax(plain)) {
			errno = 0;
			double d = strtod(plain, NULL);
			if (errno == ERANGE && (d > 1 || d < -1)) {
				*bad = "number out of range";
				return NULL;
			}
			return number_node(0, d, false);
		}
	}
	return string_node(s);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* Room for one more member: keys, values and key lines share the frame's capacity. */
static int grow_object(struct frame *f)
{
	if (f->v->u.object.len < f->cap)
		return 0;
	size_t nc = f->cap ? f->cap * 2 : 8;
	const char **k = realloc(f->v->u.object.keys, nc * sizeof *k);
	if (!k)
		return -1;
	f->v->u.object.keys = k;
	yajl_val *v = realloc(f->v->u.object.values, nc * sizeof *v);
	if (!v)
		return -1;
	f->v->u.object.values = v;
	unsigned *l = realloc(f->klines, nc * sizeof *l);
	if (!l)
		return -1;
	f->klines = l;
	f->cap = nc;
	return 0;
}

/* Attaches v at the current place (root, next array slot, or pending key) and records
 * its position. Takes ownership of v in every case. */
static int attach(struct builder *b, yajl_val v, yaml_mark_t mark, kc_err_t *err)
{
	if (!v)
		return kc_err_sys(err, ENOMEM, "parsing YAML");
	if (++b->nodes > KC_YAML_MAX_NODES) {
		yajl_tree_free(v);
		return kc_err_new(err, KC_E_TOOBIG, "%s: more than %u YAML nodes", b->name,
				  KC_YAML_MAX_NODES);
	}
	cleanup_free char *ptr = NULL;
	cleanup_free char *disp = NULL;
	yaml_mark_t where = mark;
	int rc = 0;
	if (b->depth == 0) {
		if (b->root) {
			yajl_tree_free(v);
			return at(b, mark, err, "more than one root node");
		}
		ptr = strdup("");
		disp = strdup("");
		b->root = v;
	} else {
		struct frame *f = &b->stack[b->depth - 1];
		if (f->v->type == yajl_t_object) {
			const char *key = f->key;
			ptr = kc_json_path_join(f->ptr, key);
			if (strchr(key, '.') || strchr(key, '[') || !*key)
				rc = asprintf(&disp, "%s[%s]", f->disp, key);
			else
				rc = asprintf(&disp, "%s%s%s", f->disp, *f->disp ? "." : "", key);
			if (rc < 0)
				disp = NULL;
			where = f->keymark;
			size_t n = f->v->u.object.len;
			if (!ptr || !disp || grow_object(f) < 0) {
				yajl_tree_free(v);
				return kc_err_sys(err, ENOMEM, "parsing YAML");
			}
			f->v->u.object.keys[n] = kc_steal(f->key);
			f->v->u.object.values[n] = v;
			f->klines[n] = (unsigned)where.line + 1;
			f->v->u.object.len = n + 1;
		} else {
			size_t n = f->v->u.array.len;
			if (asprintf(&ptr, "%s/%zu", f->ptr, n) < 0)
				ptr = NULL;
			if (asprintf(&disp, "%s[%zu]", f->disp, n) < 0)
				disp = NULL;
			if (!ptr || !disp ||
			    grow((void **)&f->v->u.array.values, &f->cap, n + 1, sizeof(yajl_val)) <
				0) {
				yajl_tree_free(v);
				return kc_err_sys(err, ENOMEM, "parsing YAML");
			}
			f->v->u.array.values[n] = v;
			f->v->u.array.len = n + 1;
		}
	}
	if (!ptr || !disp || grow((void **)&b->pos, &b->cappos, b->npos + 1, sizeof *b->pos) < 0)
		return kc_err_sys(err, ENOMEM, "parsing YAML");
	b->pos[b->npos++] = (struct kc_yaml_pos){.pointer = kc_steal(ptr),
						 .display = kc_steal(disp),
						 .line = (unsigned)where.line + 1,
						 .col = (unsigned)where.column + 1};
	if (v->type == yajl_t_object || v->type == yajl_t_array) {
		if (b->depth >= KC_JSON_MAX_DEPTH)
			return at(b, mark, err, "nested deeper than %d", KC_JSON_MAX_DEPTH);
		b->stack[b->depth++] = (struct frame){.v = v,
						      .ptr = b->pos[b->npos - 1].pointer,
						      .disp = b->pos[b->npos - 1].display};
	}
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Kubernetes rejects duplicate keys; sorting finds them in n log n. */
static int check_dup_keys(struct builder *b, struct frame *f, kc_err_t *err)
{
	size_t n = f->v->u.object.len;
	if (n < 2)
		return 0;
	cleanup_free const char **idx = malloc(n * sizeof *idx);
	if (!idx)
		return kc_err_sys(err, ENOMEM, "parsing YAML");
	for (size_t i = 0; i < n; i++)
		idx[i] = f->v->u.object.keys[i];
	qsort(idx, n, sizeof *idx, cmp_key);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(idx[i], idx[i - 1]) != 0)
			continue;
		/* Name the later occurrence: that is the line a reader fixes. */
		unsigned line = 0;
		int seen = 0;
		for (size_t k = 0; k < n; k++)
			if (strcmp(f->v->u.object.keys[k], idx[i]) == 0 && seen++ == 1)
				line = f->klines[k];
		return kc_err_new(err, KC_E_INVALID, "%s:%u: %s%sduplicate key \"%s\"", b->name,
				  line, f->disp, *f->disp ? ": " : "", idx[i]);
	}
	return 0;
}

static int cmp_pos(const void *a, const void *b)
{
	return strcmp(((const struct kc_yaml_pos *)a)->pointer,
		      ((const struct kc_yaml_pos *)b)->pointer);
}

static int end_doc(struct builder *b, kc_err_t *err)
{
	if (!b->root || b->root->type == yajl_t_null) {
		reset_doc(b);
		return 0; /* an empty document, as kubectl skips them */
	}
	if (b->out->ndocs >= KC_YAML_MAX_DOCS)
		return kc_err_new(err, KC_E_TOOBIG, "%s: more than %u documents", b->name,
				  KC_YAML_MAX_DOCS);
	if (grow((void **)&b->out->docs, &b->capdocs, b->out->ndocs + 1, sizeof *b->out->docs) < 0)
		return kc_err_sys(err, ENOMEM, "parsing YAML");
	qsort(b->pos, b->npos, sizeof *b->pos, cmp_pos);
	b->out->docs[b->out->ndocs++] =
	    (struct kc_yaml_doc){.root = b->root, .pos = b->pos, .npos = b->npos};
	b->root = NULL;
	b->pos = NULL;
	b->npos = b->cappos = 0;
	return 0;
}

static bool tag_is(const yaml_char_t *tag, const char *name)
{
	return tag && strcmp((const char *)tag, name) == 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *e, kc_err_t *err)
{
	const char *s = (const char *)e->data.scalar.value;
	size_t len = e->data.scalar.length;
	if (e->data.scalar.anchor)
		return at(b, e->start_mark, err, "anchors and aliases are not supported");
	if (memchr(s, '\0', len))
		return at(b, e->start_mark, err, "NUL character in a scalar");
	const yaml_char_t *tag = e->data.scalar.tag;
	bool plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (tag && !tag_is(tag, "!") && !tag_is(tag, YAML_STR_TAG))
		return at(b, e->start_mark, err, "explicit tag %s is not supported",
			  (const char *)tag);
	if (b->depth > 0) {
		struct frame *f = &b->stack[b->depth - 1];
		if (f->v->type == yajl_t_object && !f->key) {
			/* A key: JSON keys are strings, so its text is the key as written. */
			if (!(f->key = strdup(s)))
				return kc_err_sys(err, ENOMEM, "parsing YAML");
			f->keymark = e->start_mark;
			return 0;
		}
	}
	yajl_val v;
	if (!plain || tag) {
		v = string_node(s);
	} else {
		const char *bad;
		v = resolve_plain(s, &bad);
		if (!v && bad)
			return at(b, e->start_mark, err, "%s: %s", s, bad);
	}
	return attach(b, v, e->start_mark, err);
}

static int on_event(struct builder *b, const yaml_event_t *e, kc_err_t *err)
{
	switch (e->type) {
	case YAML_DOCUMENT_START_EVENT:
		reset_doc(b);
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return end_doc(b, err);
	case YAML_ALIAS_EVENT:
		return at(b, e->start_mark, err, "anchors and aliases are not supported");
	case YAML_SCALAR_EVENT:
		return on_scalar(b, e, err);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = e->type == YAML_MAPPING_START_EVENT;
		const yaml_char_t *anchor =
		    map ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
		const yaml_char_t *tag =
		    map ? e->data.mapping_start.tag : e->data.sequence_start.tag;
		if (anchor)
			return at(b, e->start_mark, err, "anchors and aliases are not supported");
		if (tag && !tag_is(tag, "!") && !tag_is(tag, map ? YAML_MAP_TAG : YAML_SEQ_TAG))
			return at(b, e->start_mark, err, "explicit tag %s is not supported",
				  (const char *)tag);
		if (b->depth > 0) {
			struct frame *f = &b->stack[b->depth - 1];
			if (f->v->type == yajl_t_object && !f->key)
				return at(b, e->start_mark, err,
					  "a mapping or sequence as a key is not supported");
		}
		return attach(b, node_new(map ? yajl_t_object : yajl_t_array), e->start_mark, err);
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		if (b->depth == 0)
			return at(b, e->start_mark, err, "unbalanced end of collection");
		struct frame *f = &b->stack[b->depth - 1];
		if (f->v->type == yajl_t_object && check_dup_keys(b, f, err) < 0)
			return -1;
		free(f->key);
		free(f->klines);
		b->depth--;
		return 0;
	}
	default:
		return 0;
	}
}

void kc_yaml_free(struct kc_yaml *y)
{
	if (!y)
		return;
	for (size_t i = 0; i < y->ndocs; i++) {
		yajl_tree_free(y->docs[i].root);
		free_pos(y->docs[i].pos, y->docs[i].npos);
	}
	free(y->docs);
	free(y);
}

int kc_yaml_parse(const char *buf, size_t len, const char *name, struct kc_yaml **out,
		  kc_err_t *err)
{
	if (!name)
		name = "<input>";
	if (!buf) /* libyaml asserts on a NULL input even when it is empty */
		buf = "";
	if (len > KC_YAML_MAX_INPUT)
		return kc_err_new(err, KC_E_TOOBIG, "%s: larger than %u bytes", name,
				  KC_YAML_MAX_INPUT);
	struct kc_yaml *y = calloc(1, sizeof *y);
	struct builder *b = calloc(1, sizeof *b);
	yaml_parser_t parser;
	if (!y || !b || !yaml_parser_initialize(&parser)) {
		free(y);
		free(b);
		return kc_err_sys(err, ENOMEM, "parsing YAML");
	}
	b->name = name;
	b->out = y;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	int rc = 0;
	for (;;) {
		yaml_event_t e;
		if (!yaml_parser_parse(&parser, &e)) {
			rc = kc_err_new(
			    err, KC_E_INVALID, "%s:%zu:%zu: %s%s%s", name,
			    parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			    parser.problem ? parser.problem : "invalid YAML",
			    parser.context ? " " : "", parser.context ? parser.context : "");
			break;
		}
		bool end = e.type == YAML_STREAM_END_EVENT;
		rc = on_event(b, &e, err);
		yaml_event_delete(&e);
		if (rc < 0 || end)
			break;
	}
	yaml_parser_delete(&parser);
	reset_doc(b);
	free(b);
	if (rc < 0) {
		kc_yaml_free(y);
		return rc;
	}
	*out = y;
	return 0;
}

int kc_yaml_load_file(const char *path, struct kc_yaml **out, kc_err_t *err)
{
	bool in = strcmp(path, "-") == 0;
	cleanup_close int fd = in ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "opening %s", path);
	size_t cap = 64 * 1024, len = 0;
	cleanup_free char *buf = malloc(cap);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "reading %s", path);
	for (;;) {
		if (len == cap) {
			if (cap > KC_YAML_MAX_INPUT)
				return kc_err_new(err, KC_E_TOOBIG, "%s: larger than %u bytes",
						  path, KC_YAML_MAX_INPUT);
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				return kc_err_sys(err, ENOMEM, "reading %s", path);
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kc_err_sys(err, errno, "reading %s", path);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	return kc_yaml_parse(buf, len, in ? "<stdin>" : path, out, err);
}

const struct kc_yaml_pos *kc_yaml_pos(const struct kc_yaml_doc *doc, const char *pointer)
{
	if (!doc || !doc->pos)
		return NULL;
	struct kc_yaml_pos key = {.pointer = (char *)pointer};
	return bsearch(&key, doc->pos, doc->npos, sizeof *doc->pos, cmp_pos);
}

unsigned kc_yaml_line(const struct kc_yaml_doc *doc, const char *pointer)
{
	const struct kc_yaml_pos *p = kc_yaml_pos(doc, pointer);
	return p ? p->line : 0;
}
