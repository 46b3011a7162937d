/* Image reference parsing: every form of the distribution/reference grammar
 * (domains with ports and IPv6, path separators, tags, digests, docker.io
 * normalization, length limits) and the forms it rejects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "registry/reference.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H96 H64 "0123456789abcdef0123456789abcdef"
#define H128 H64 H64

struct ok_case {
	const char *in;
	const char *domain, *path, *tag, *digest;
	const char *canonical, *familiar;
	bool defaulted;
};

static const struct ok_case ok_cases[] = {
    {"busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest",
     "busybox:latest", true},
    {"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "docker.io/library/busybox:1.36",
     "busybox:1.36", false},
    {"library/busybox", "docker.io", "library/busybox", "latest", "",
     "docker.io/library/busybox:latest", "busybox:latest", true},
    {"user/app", "docker.io", "user/app", "latest", "", "docker.io/user/app:latest",
     "user/app:latest", true},
    {"user/app/sub", "docker.io", "user/app/sub", "latest", "", "docker.io/user/app/sub:latest",
     "user/app/sub:latest", true},
    {"docker.io/busybox", "docker.io", "library/busybox", "latest", "",
     "docker.io/library/busybox:latest", "busybox:latest", true},
    {"docker.io/library/busybox:x", "docker.io", "library/busybox", "x", "",
     "docker.io/library/busybox:x", "busybox:x", false},
    {"index.docker.io/user/app:v1", "docker.io", "user/app", "v1", "", "docker.io/user/app:v1",
     "user/app:v1", false},
    {"docker.io/library/a/b", "docker.io", "library/a/b", "latest", "",
     "docker.io/library/a/b:latest", "library/a/b:latest", true},
    {"localhost/app", "localhost", "app", "latest", "", "localhost/app:latest",
     "localhost/app:latest", true},
    {"localhost:5000/app:tag", "localhost:5000", "app", "tag", "", "localhost:5000/app:tag",
     "localhost:5000/app:tag", false},
    {"127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", "t", "", "127.0.0.1:5000/a/b/c:t",
     "127.0.0.1:5000/a/b/c:t", false},
    {"127.0.0.1:5000/x:y", "127.0.0.1:5000", "x", "y", "", "127.0.0.1:5000/x:y",
     "127.0.0.1:5000/x:y", false},
    {"[::1]:5000/app", "[::1]:5000", "app", "latest", "", "[::1]:5000/app:latest",
     "[::1]:5000/app:latest", true},
    {"[2001:db8::1]/app:v", "[2001:db8::1]", "app", "v", "", "[2001:db8::1]/app:v",
     "[2001:db8::1]/app:v", false},
    {"example.com/app@sha256:" H64, "example.com", "app", "", "sha256:" H64,
     "example.com/app@sha256:" H64, "example.com/app@sha256:" H64, false},
    {"example.com/app:v1@sha256:" H64, "example.com", "app", "v1", "sha256:" H64,
     "example.com/app:v1@sha256:" H64, "example.com/app:v1@sha256:" H64, false},
    {"busybox@sha256:" H64, "docker.io", "library/busybox", "", "sha256:" H64,
     "docker.io/library/busybox@sha256:" H64, "busybox@sha256:" H64, false},
    {"app@sha384:" H96, "docker.io", "library/app", "", "sha384:" H96,
     "docker.io/library/app@sha384:" H96, "app@sha384:" H96, false},
    {"app@sha512:" H128, "docker.io", "library/app", "", "sha512:" H128,
     "docker.io/library/app@sha512:" H128, "app@sha512:" H128, false},
    {"a.b-c.example.com:443/ns/app_x__y-z--w.q:TaG_1.2-3", "a.b-c.example.com:443",
     "ns/app_x__y-z--w.q", "TaG_1.2-3", "", "a.b-c.example.com:443/ns/app_x__y-z--w.q:TaG_1.2-3",
     "a.b-c.example.com:443/ns/app_x__y-z--w.q:TaG_1.2-3", false},
    /* No '/': the text before ':' is a name, after it a tag. */
    {"foo.com:5000", "docker.io", "library/foo.com", "5000", "", "docker.io/library/foo.com:5000",
     "foo.com:5000", false},
    {"localhost", "docker.io", "library/localhost", "latest", "",
     "docker.io/library/localhost:latest", "localhost:latest", true},
    {"localhost:5000", "docker.io", "library/localhost", "5000", "",
     "docker.io/library/localhost:5000", "localhost:5000", false},
    /* A docker.io path that looks like a host keeps its domain when printed. */
    {"docker.io/foo.com/bar", "docker.io", "foo.com/bar", "latest", "",
     "docker.io/foo.com/bar:latest", "docker.io/foo.com/bar:latest", true},
    {"docker.io/localhost/bar", "docker.io", "localhost/bar", "latest", "",
     "docker.io/localhost/bar:latest", "docker.io/localhost/bar:latest", true},
    /* Uppercase is fine in a domain. */
    {"Example.COM/app", "Example.COM", "app", "latest", "", "Example.COM/app:latest",
     "Example.COM/app:latest", true},
    {"x/a---b", "docker.io", "x/a---b", "latest", "", "docker.io/x/a---b:latest", "x/a---b:latest",
     true},
    {"a__b", "docker.io", "library/a__b", "latest", "", "docker.io/library/a__b:latest",
     "a__b:latest", true},
    {"a.b.c", "docker.io", "library/a.b.c", "latest", "", "docker.io/library/a.b.c:latest",
     "a.b.c:latest", true},
    {"a_b-c.d", "docker.io", "library/a_b-c.d", "latest", "", "docker.io/library/a_b-c.d:latest",
     "a_b-c.d:latest", true},
    {"123/456", "docker.io", "123/456", "latest", "", "docker.io/123/456:latest", "123/456:latest",
     true},
    {"a:_x", "docker.io", "library/a", "_x", "", "docker.io/library/a:_x", "a:_x", false},
    {"a:LATEST", "docker.io", "library/a", "LATEST", "", "docker.io/library/a:LATEST", "a:LATEST",
     false},
    {"a:1", "docker.io", "library/a", "1", "", "docker.io/library/a:1", "a:1", false},
    {"h-1.io/a", "h-1.io", "a", "latest", "", "h-1.io/a:latest", "h-1.io/a:latest", true},
    {"h:1/a", "h:1", "a", "latest", "", "h:1/a:latest", "h:1/a:latest", true},
    /* 63 hex digits are a fine name; 64 are refused (an image ID). */
    {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", "docker.io",
     "library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", "latest", "",
     "docker.io/library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde:latest",
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde:latest", true},
};

static void check_ok(const struct ok_case *c)
{
	struct kc_ref r;
	kc_err_t err = NULL;
	char buf[KC_REF_STRING_MAX];
	if (kc_ref_parse(c->in, &r, &err) != 0) {
		char *s = kc_err_string(err);
		fail_msg("\"%s\" rejected: %s", c->in, s);
	}
	assert_null(err);
	assert_string_equal(r.domain, c->domain);
	assert_string_equal(r.path, c->path);
	assert_string_equal(r.tag, c->tag);
	assert_string_equal(r.digest, c->digest);
	assert_int_equal(r.tag_defaulted, c->defaulted);
	size_t n = kc_ref_canonical(&r, buf, sizeof buf);
	assert_string_equal(buf, c->canonical);
	assert_int_equal(n, strlen(c->canonical));
	kc_ref_familiar(&r, buf, sizeof buf);
	assert_string_equal(buf, c->familiar);
	/* The canonical form parses back to the same reference. */
	struct kc_ref again;
	kc_ref_canonical(&r, buf, sizeof buf);
	assert_int_equal(kc_ref_parse(buf, &again, &err), 0);
	assert_string_equal(again.domain, r.domain);
	assert_string_equal(again.path, r.path);
	assert_string_equal(again.tag, r.tag);
	assert_string_equal(again.digest, r.digest);
	/* So does the familiar one. */
	kc_ref_familiar(&r, buf, sizeof buf);
	assert_int_equal(kc_ref_parse(buf, &again, &err), 0);
	assert_string_equal(again.domain, r.domain);
	assert_string_equal(again.path, r.path);
}

static void test_valid_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++)
		check_ok(&ok_cases[i]);
}

struct bad_case {
	const char *in;
	const char *why; /* substring of the message */
};

static const struct bad_case bad_cases[] = {
    {"", "empty reference"},
    {"Busybox", "repository name must be lowercase"},
    {"user/App", "repository name must be lowercase"},
    {"example.com/App:tag", "repository name must be lowercase"},
    {"localhost:5000/MyApp", "repository name must be lowercase"},
    {"UPPER/app", "repository name must be lowercase"}, /* not a domain: no '.' or ':' */
    {H64, "64-byte hexadecimal"},
    {"app:", "invalid tag"},
    {"app:-x", "invalid tag"},
    {"app:.x", "invalid tag"},
    {"app:a+b", "invalid tag"},
    {"app:a b", "invalid tag"},
    {"app@sha256:abc", "invalid digest"},
    {"app@sha256:" H64 "0", "unsupported digest algorithm or wrong digest length"},
    {"app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
     "wrong digest length"},
    {"app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     "wrong digest length"},
    {"app@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm"},
    {"app@", "invalid digest"},
    {"app@sha256", "invalid digest"},
    {"app@:" H64, "invalid digest"},
    {"app@1sha:" H64, "invalid digest"},
    {"app@sha256:" H64 "@sha256:" H64, "invalid digest"},
    {"app@sha256+:" H64, "invalid digest"},
    {"-app", "invalid repository name"},
    {"app-", "invalid repository name"},
    {"a..b", "invalid repository name"},
    {"a___b", "invalid repository name"},
    {"a.-b", "invalid repository name"},
    {"_a", "invalid repository name"},
    {"a_", "invalid repository name"},
    {"a/", "invalid repository name"},
    {"/a", "invalid repository name"},
    {"a//b", "invalid repository name"},
    {".a", "invalid repository name"},
    {"example.com/", "invalid repository name"},
    {"app with space", "invalid"},
    {"app:tag:tag2", "invalid repository name"},
    {"app!", "invalid repository name"},
    {"exa_mple.com/app", "invalid registry host"},
    {"-example.com/app", "invalid registry host"},
    {"example-.com/app", "invalid registry host"},
    {"example..com/app", "invalid registry host"},
    {"example.com:/app", "invalid registry host"},
    {"example.com:abc/app", "invalid registry host"},
    {"example.com:50:00/app", "invalid registry host"},
    {"[::1/app", "invalid registry host"},
    {"[]:5000/app", "invalid registry host"},
    {"[zz::1]/app", "invalid registry host"},
    {"[::1]x/app", "invalid registry host"},
    {":5000/app", "invalid registry host"},
    {":tag", "at least one component"},
    {"@sha256:" H64, "at least one component"},
};

static void test_invalid_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		struct kc_ref r;
		kc_err_t err = NULL;
		const struct bad_case *c = &bad_cases[i];
		if (kc_ref_parse(c->in, &r, &err) == 0)
			fail_msg("\"%s\" accepted as %s/%s:%s", c->in, r.domain, r.path, r.tag);
		assert_non_null(err);
		assert_int_equal(kc_err_kind(err), KC_E_INVALID);
		char *s = kc_err_string(err);
		if (!strstr(s, c->why))
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", c->in, s, c->why);
		free(s);
		kc_err_free(&err);
	}
	struct kc_ref r;
	kc_err_t err = NULL;
	assert_int_equal(kc_ref_parse(NULL, &r, &err), -1);
	kc_err_free(&err);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_length_limits(void **state)
{
	(void)state;
	struct kc_ref r;
	kc_err_t err = NULL;
	char buf[2048];

	/* domain + "/" + path of exactly 255 is fine, 256 is not. */
	char *p = repeat('a', 255 - strlen("example.com/"));
	snprintf(buf, sizeof buf, "example.com/%s", p);
	assert_int_equal(kc_ref_parse(buf, &r, &err), 0);
	snprintf(buf, sizeof buf, "example.com/%sa", p);
	assert_int_equal(kc_ref_parse(buf, &r, &err), -1);
	assert_non_null(strstr(err->msg, "not be more than 255"));
	kc_err_free(&err);
	free(p);

	/* The docker.io/library/ prefix counts (distribution checks the
	 * normalized name). */
	p = repeat('b', 255 - strlen("docker.io/library/"));
	assert_int_equal(kc_ref_parse(p, &r, &err), 0);
	free(p);
	p = repeat('b', 256 - strlen("docker.io/library/"));
	assert_int_equal(kc_ref_parse(p, &r, &err), -1);
	assert_non_null(strstr(err->msg, "255"));
	kc_err_free(&err);
	free(p);

	/* Tags: 128 characters at most. */
	p = repeat('t', 128);
	snprintf(buf, sizeof buf, "app:%s", p);
	assert_int_equal(kc_ref_parse(buf, &r, &err), 0);
	assert_string_equal(r.tag, p);
	snprintf(buf, sizeof buf, "app:%st", p);
	assert_int_equal(kc_ref_parse(buf, &r, &err), -1);
	assert_non_null(strstr(err->msg, "invalid tag"));
	kc_err_free(&err);
	free(p);

	/* Absurdly long input is refused before any work. */
	p = repeat('a', 100000);
	assert_int_equal(kc_ref_parse(p, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	kc_err_free(&err);
	free(p);
}

static void test_pinned_and_lookup(void **state)
{
	(void)state;
	struct kc_ref r;
	kc_err_t err = NULL;
	char buf[KC_REF_STRING_MAX];
	assert_int_equal(kc_ref_parse("127.0.0.1:5000/x:y", &r, &err), 0);
	assert_string_equal(kc_ref_lookup(&r), "y");
	kc_ref_pinned(&r, "sha256:" H64, buf, sizeof buf);
	assert_string_equal(buf, "127.0.0.1:5000/x@sha256:" H64);
	kc_ref_name(&r, buf, sizeof buf);
	assert_string_equal(buf, "127.0.0.1:5000/x");

	assert_int_equal(kc_ref_parse("busybox:1@sha256:" H64, &r, &err), 0);
	assert_string_equal(kc_ref_lookup(&r), "sha256:" H64);
	kc_ref_pinned(&r, NULL, buf, sizeof buf);
	assert_string_equal(buf, "docker.io/library/busybox@sha256:" H64);

	/* A short buffer truncates but reports the needed length. */
	char small[8];
	size_t need = kc_ref_canonical(&r, small, sizeof small);
	assert_int_equal(need, strlen("docker.io/library/busybox:1@sha256:" H64));
	assert_int_equal(strlen(small), 7);
}

static void test_helpers(void **state)
{
	(void)state;
	assert_true(kc_ref_digest_valid("sha256:" H64));
	assert_false(kc_ref_digest_valid("sha256:" H96));
	assert_true(kc_ref_digest_valid("sha384:" H96));
	assert_true(kc_ref_digest_valid("sha512:" H128));
	assert_false(kc_ref_digest_valid("sha256:"));
	assert_false(kc_ref_digest_valid("foo:" H64));
	assert_true(kc_ref_tag_valid("v1.0-rc_1"));
	assert_false(kc_ref_tag_valid(""));
	assert_false(kc_ref_tag_valid("-v"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_forms),	  cmocka_unit_test(test_invalid_forms),
	    cmocka_unit_test(test_length_limits), cmocka_unit_test(test_pinned_and_lookup),
	    cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
