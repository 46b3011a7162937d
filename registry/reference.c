/* Image reference parsing: see reference.h. A hand-written recursive-descent
 * of the distribution/reference grammar; each grammar rule is one function. */
#include "reference.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Inputs longer than this cannot be valid (name, tag and digest are capped). */
#define INPUT_MAX (KC_REF_STRING_MAX + 8)

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

/* path-component := [a-z0-9]+ ( separator [a-z0-9]+ )*
 * separator := [_.] | __ | [-]+ ; s[0..n) is one component. */
static bool path_component_valid(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_lower_alnum(s[0]))
		return false;
	while (i < n) {
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == n)
			return true;
		/* A separator, then at least one alnum must follow. */
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

/* path := path-component ( '/' path-component )* */
static bool path_valid(const char *s)
{
	const char *p = s;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!path_component_valid(p, n))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_component_valid(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* domain := host [':' port] ; host := domain-name | '[' ipv6 ']' */
static bool domain_valid(const char *s)
{
	const char *port = NULL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1)
			return false;
		for (const char *c = s + 1; c < close; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':')
				return false;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return false;
	} else {
		const char *colon = strchr(s, ':');
		size_t hostlen = colon ? (size_t)(colon - s) : strlen(s);
		size_t start = 0;
		for (size_t i = 0; i <= hostlen; i++) {
			if (i == hostlen || s[i] == '.') {
				if (!domain_component_valid(s + start, i - start))
					return false;
				start = i + 1;
			}
		}
		if (colon)
			port = colon + 1;
	}
	if (port) {
		if (!*port)
			return false;
		for (const char *c = port; *c; c++)
			if (*c < '0' || *c > '9')
				return false;
	}
	return true;
}

bool kc_ref_tag_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KC_REF_TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* The grammar's digest: algorithm components [A-Za-z][A-Za-z0-9]* joined by
 * [+._-], ':', then at least 32 hex digits. Returns false when the text is not
 * a digest at all; *known is set when the algorithm and encoding are ones
 * go-digest accepts. */
static bool digest_grammar(const char *s, bool *known)
{
	const char *colon = strchr(s, ':');
	*known = false;
	if (!colon || colon == s)
		return false;
	bool want_alpha = true;
	for (const char *c = s; c < colon; c++) {
		if (want_alpha) {
			if (!isalpha((unsigned char)*c))
				return false;
			want_alpha = false;
		} else if (*c == '+' || *c == '.' || *c == '_' || *c == '-') {
			want_alpha = true;
		} else if (!isalnum((unsigned char)*c)) {
			return false;
		}
	}
	if (want_alpha)
		return false;
	const char *hex = colon + 1;
	size_t n = strlen(hex);
	if (n < 32)
		return false;
	bool lower = true;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)hex[i]))
			return false;
		if (!is_hex_lower(hex[i]))
			lower = false;
	}
	size_t algo_len = (size_t)(colon - s);
	size_t want = 0;
	if (algo_len == 6 && !strncmp(s, "sha256", 6))
		want = 64;
	else if (algo_len == 6 && !strncmp(s, "sha384", 6))
		want = 96;
	else if (algo_len == 6 && !strncmp(s, "sha512", 6))
		want = 128;
	*known = want && n == want && lower;
	return true;
}

bool kc_ref_digest_valid(const char *s)
{
	bool known;
	return digest_grammar(s, &known) && known;
}

static bool is_hex64(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!is_hex_lower(s[i]))
			return false;
	return i == 64;
}

static int invalid(kc_err_t *err, const char *s, const char *why)
{
	return kc_err_new(err, KC_E_INVALID, "invalid reference format \"%.300s\": %s", s, why);
}

int kc_ref_parse(const char *s, struct kc_ref *out, kc_err_t *err)
{
	char buf[INPUT_MAX + 1];
	memset(out, 0, sizeof *out);
	if (!s || !*s)
		return kc_err_new(err, KC_E_INVALID, "invalid reference format: empty reference");
	size_t len = strlen(s);
	if (len > INPUT_MAX)
		return invalid(err, s, "reference too long");
	if (is_hex64(s))
		return invalid(err, s,
			       "cannot specify 64-byte hexadecimal strings as a repository name");
	memcpy(buf, s, len + 1);

	char *at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		bool known;
		if (!digest_grammar(at + 1, &known))
			return invalid(err, s, "invalid digest");
		if (!known)
			return invalid(
			    err, s,
			    "unsupported digest algorithm or wrong digest length (sha256 "
			    "needs 64 lowercase hex digits)");
		if (strlen(at + 1) > KC_REF_DIGEST_MAX)
			return invalid(err, s, "invalid digest");
		strcpy(out->digest, at + 1);
	}

	char *slash = strrchr(buf, '/');
	char *colon = strrchr(buf, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!kc_ref_tag_valid(colon + 1))
			return invalid(err, s,
				       "invalid tag (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
		strcpy(out->tag, colon + 1);
	}
	if (!buf[0])
		return invalid(err, s, "repository name must have at least one component");

	/* The first component names a registry only when it looks like a
	 * host: it has a '.' or ':' or is "localhost" (docker's rule). */
	const char *domain = KC_REF_DEFAULT_DOMAIN;
	const char *remote = buf;
	char *first = strchr(buf, '/');
	if (first) {
		*first = '\0';
		if (strpbrk(buf, ".:") || !strcmp(buf, "localhost")) {
			domain = buf;
			remote = first + 1;
		} else {
			*first = '/';
		}
	}
	if (!strcmp(domain, "index.docker.io"))
		domain = KC_REF_DEFAULT_DOMAIN;
	if (!domain_valid(domain))
		return invalid(err, s, "invalid registry host");
	const char *prefix = "";
	if (!strcmp(domain, KC_REF_DEFAULT_DOMAIN) && !strchr(remote, '/'))
		prefix = "library/";
	if (strlen(domain) + 1 + strlen(prefix) + strlen(remote) > KC_REF_NAME_MAX)
		return invalid(err, s, "repository name must not be more than 255 characters");
	if (!path_valid(remote)) {
		/* Tell uppercase apart: the most common mistake, and docker names it. */
		char lower[KC_REF_NAME_MAX + 1];
		size_t i = 0;
		for (; remote[i]; i++)
			lower[i] = (char)tolower((unsigned char)remote[i]);
		lower[i] = '\0';
		if (strcmp(lower, remote) != 0 && path_valid(lower))
			return invalid(err, s, "repository name must be lowercase");
		return invalid(err, s,
			       "invalid repository name (components are lowercase letters and "
			       "digits separated by '.', '_', '__' or '-', joined by '/')");
	}
	strcpy(out->domain, domain);
	/* Lengths were checked above. */
	size_t plen = strlen(prefix);
	memcpy(out->path, prefix, plen);
	strcpy(out->path + plen, remote);
	if (!out->tag[0] && !out->digest[0]) {
		strcpy(out->tag, KC_REF_DEFAULT_TAG);
		out->tag_defaulted = true;
	}
	return 0;
}

size_t kc_ref_name(const struct kc_ref *r, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", r->domain, r->path);
	return n < 0 ? 0 : (size_t)n;
}

static size_t with_suffix(const char *name, const struct kc_ref *r, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s%s%s%s%s", name, r->tag[0] ? ":" : "", r->tag,
			 r->digest[0] ? "@" : "", r->digest);
	return n < 0 ? 0 : (size_t)n;
}

size_t kc_ref_canonical(const struct kc_ref *r, char *buf, size_t cap)
{
	char name[KC_REF_NAME_MAX + 2];
	kc_ref_name(r, name, sizeof name);
	return with_suffix(name, r, buf, cap);
}

size_t kc_ref_familiar(const struct kc_ref *r, char *buf, size_t cap)
{
	char name[KC_REF_NAME_MAX + 2];
	/* "docker.io/foo.com/x" must keep its domain: "foo.com/x" would name
	 * another registry. */
	size_t first = strcspn(r->path, "/");
	bool hostlike =
	    r->path[first] == '/' && (memchr(r->path, '.', first) || memchr(r->path, ':', first) ||
				      (first == 9 && !strncmp(r->path, "localhost", 9)));
	if (!strcmp(r->domain, KC_REF_DEFAULT_DOMAIN) && !hostlike) {
		const char *p = r->path;
		if (!strncmp(p, "library/", 8) && !strchr(p + 8, '/'))
			p += 8;
		snprintf(name, sizeof name, "%s", p);
	} else {
		kc_ref_name(r, name, sizeof name);
	}
	return with_suffix(name, r, buf, cap);
}

size_t kc_ref_pinned(const struct kc_ref *r, const char *digest, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s@%s", r->domain, r->path, digest ? digest : r->digest);
	return n < 0 ? 0 : (size_t)n;
}

const char *kc_ref_lookup(const struct kc_ref *r)
{
	return r->digest[0] ? r->digest : r->tag;
}
