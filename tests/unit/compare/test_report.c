/* The compare report: loads the recorded fixture (v1 -> v2 -> v3, 3 replicas),
 * regenerates report.html and checks it is well-formed (tag balance), holds one
 * <svg> chart per figure, says "not measured" for the unmeasured figure and
 * escapes every string; report.json round-trips; reader errors name paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/report.h"

static struct kc_report *load_fixture(void)
{
	const char *src = getenv("KCTL_SOURCE_DIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/unit/compare/fixtures/report.json", src ? src : ".");
	struct kc_report *r = NULL;
	kc_err_t err = NULL;
	if (kc_report_load(path, &r, &err) < 0) {
		char *s = kc_err_string(err);
		fail_msg("loading fixture: %s", s);
	}
	return r;
}

static char *render_html(const struct kc_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	kc_err_t err = NULL;
	assert_int_equal(kc_report_write_html(r, f, &err), 0);
	fclose(f);
	return buf;
}

static char *render_text(const struct kc_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	kc_err_t err = NULL;
	assert_int_equal(kc_report_write_text(r, f, &err), 0);
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Tag balance: every element closed in order, void elements self-closed, no
 * stray '<' or '&' in text. Fails the test with the offending offset. */
static void check_well_formed(const char *html)
{
	static const char *const voids[] = {"meta", "br", "link", "img", "hr", "input", NULL};
	char stack[256][32];
	int depth = 0;
	const char *p = html;
	if (strncmp(p, "<!DOCTYPE html>", 15) != 0)
		fail_msg("no doctype");
	p += 15;
	while (*p) {
		if (*p == '&') {
			const char *semi = strchr(p, ';');
			if (!semi || semi - p > 8)
				fail_msg("bare '&' at offset %td", p - html);
			bool ok = p[1] == '#' || !strncmp(p, "&amp;", 5) ||
				  !strncmp(p, "&lt;", 4) || !strncmp(p, "&gt;", 4) ||
				  !strncmp(p, "&quot;", 6);
			if (!ok)
				fail_msg("unknown entity at offset %td", p - html);
			p = semi + 1;
			continue;
		}
		if (*p != '<') {
			p++;
			continue;
		}
		bool closing = p[1] == '/';
		const char *n = p + (closing ? 2 : 1);
		if (!isalpha((unsigned char)*n))
			fail_msg("stray '<' at offset %td", p - html);
		char name[32];
		size_t k = 0;
		while (isalnum((unsigned char)n[k]) && k < sizeof name - 1) {
			name[k] = n[k];
			k++;
		}
		name[k] = '\0';
		/* Find the tag's end outside quoted attribute values. */
		const char *q = n + k;
		char quote = 0;
		for (; *q && (quote || *q != '>'); q++) {
			if (quote && *q == quote)
				quote = 0;
			else if (!quote && (*q == '"' || *q == '\''))
				quote = *q;
			else if (*q == '<')
				fail_msg("'<' inside tag %s at offset %td", name, q - html);
		}
		if (!*q)
			fail_msg("unterminated tag %s", name);
		bool self = q[-1] == '/';
		bool is_void = false;
		for (int i = 0; voids[i]; i++)
			is_void |= strcmp(voids[i], name) == 0;
		if (is_void && !self)
			fail_msg("void element %s not self-closed at offset %td", name, p - html);
		if (closing) {
			if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
				fail_msg("</%s> at offset %td closes <%s>", name, p - html,
					 depth ? stack[depth - 1] : "(nothing)");
			depth--;
		} else if (!self) {
			if (depth == 256)
				fail_msg("nested too deep");
			if (!strcmp(name, "script"))
				fail_msg("a script element");
			strcpy(stack[depth++], name);
		}
		p = q + 1;
	}
	if (depth != 0)
		fail_msg("%d elements left open, innermost <%s>", depth, stack[depth - 1]);
}

/* The text of <figure id="ID">...</figure> (no nested figures), newly allocated. */
static char *figure(const char *html, const char *id)
{
	char key[64];
	snprintf(key, sizeof key, "<figure id=\"%s\"", id);
	const char *a = strstr(html, key);
	if (!a) {
		snprintf(key, sizeof key, "id=\"%s\"", id);
		a = strstr(html, key);
	}
	if (!a)
		fail_msg("no figure %s", id);
	const char *b = strstr(a, "</figure>");
	assert_non_null(b);
	return strndup(a, (size_t)(b - a));
}

static void test_fixture_html(void **state)
{
	(void)state;
	struct kc_report *r = load_fixture();
	assert_int_equal(r->n_steps, 2);
	assert_int_equal(r->replicas, 3);
	assert_int_equal(r->n_versions, 3);
	const struct kc_report_result *imm = &r->steps[1].r[KC_IMMUTABLE];
	const struct kc_report_result *mut = &r->steps[1].r[KC_MUTABLE];
	assert_true(imm->present && mut->present);
	assert_false(mut->peak_memory_bytes.measured);
	assert_true(imm->peak_memory_bytes.measured);
	assert_int_equal((int)imm->probe.failures.v, 0);
	assert_true(mut->probe.failures.v > 0);
	assert_true(mut->probe.n_samples > 30);
	assert_int_equal(mut->drift.n_replicas, 3);
	assert_int_equal((int)mut->drift.distinct_states.v, 2);
	assert_int_equal((int)kc_result_drift_files(imm).v, 0);

	char *html = render_html(r);
	check_well_formed(html);

	/* One chart per figure: 11 bar charts and a probe timeline per step. */
	size_t charts = kc_report_html_chart_count(r);
	assert_int_equal(charts, 11 + r->n_steps);
	assert_int_equal(count(html, "<svg "), charts);
	assert_int_equal(count(html, "</svg>"), charts);
	static const char *const ids[] = {"chart-time",	     "chart-failures", "chart-gap",
					  "chart-cpu",	     "chart-memory",   "chart-pulled",
					  "chart-stored",    "chart-writable", "chart-api-calls",
					  "chart-api-bytes", "chart-drift",    "chart-probe-0",
					  "chart-probe-1"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char *fig = figure(html, ids[i]);
		if (count(fig, "<svg ") != 1)
			fail_msg("figure %s holds %zu charts", ids[i], count(fig, "<svg "));
		free(fig);
	}
	/* Four bars (2 steps x 2 approaches) in the time chart, each labelled. */
	char *fig = figure(html, "chart-time");
	assert_int_equal(count(fig, "<title>"), 4);
	assert_non_null(strstr(fig, "2.18 s"));
	free(fig);

	/* The unmeasured figure says so, in its chart and in the table, and the
	 * measured ones do not. */
	fig = figure(html, "chart-memory");
	assert_int_equal(count(fig, "not measured"), 1);
	assert_int_equal(count(fig, "<title>"), 3);
	free(fig);
	fig = figure(html, "chart-time");
	assert_int_equal(count(fig, "not measured"), 0);
	free(fig);
	assert_non_null(strstr(html, "<td class=\"nm\">not measured</td>"));

	/* Failures are drawn on the mutable lanes only. */
	fig = figure(html, "chart-probe-1");
	assert_non_null(strstr(fig, "longest gap"));
	assert_non_null(strstr(fig, "stroke=\"#dc2626\" stroke-width=\"2\" d=\"M"));
	free(fig);

	/* Every string escaped: the error text carries markup and quotes. */
	assert_null(strstr(html, "<script"));
	assert_non_null(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
				     "rolled on"));
	assert_non_null(strstr(html, "&#39;echo v3 &gt; /app/VERSION&#39;"));
	/* Self-contained: nothing fetched, nothing run. */
	assert_null(strstr(html, "http://www.example"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "<link"));
	assert_null(strstr(html, "href="));
	assert_null(strstr(html, "url("));
	assert_null(strstr(html, "@import"));
	free(html);

	/* The text table: unmeasured, never zero. */
	char *text = render_text(r);
	assert_non_null(strstr(text, "not measured"));
	const char *row = strstr(text, "v2->v3  mutable");
	assert_non_null(row);
	const char *eol = strchr(row, '\n');
	char *line = strndup(row, (size_t)(eol - row));
	assert_non_null(strstr(line, "partial"));
	assert_non_null(strstr(line, "not measured"));
	assert_non_null(strstr(line, "20/"));
	free(line);
	assert_int_equal(count(text, "\n"), 5);
	free(text);
	kc_report_free(r);
}

static void test_json_roundtrip(void **state)
{
	(void)state;
	struct kc_report *r = load_fixture();
	char *a = NULL, *b = NULL;
	size_t alen, blen;
	kc_err_t err = NULL;
	assert_int_equal(kc_report_to_json(r, true, &a, &alen, &err), 0);
	struct kc_report *r2 = NULL;
	assert_int_equal(kc_report_from_json(a, alen, &r2, &err), 0);
	assert_int_equal(kc_report_to_json(r2, true, &b, &blen, &err), 0);
	assert_string_equal(a, b);
	/* Unmeasured stays null, fractional figures keep their digits. */
	assert_non_null(strstr(a, "\"peak_memory_bytes\": null"));
	assert_non_null(strstr(a, "\"cpu_seconds\": 0.264"));
	assert_non_null(strstr(a, "\"latency_ms\": null"));
	free(a);
	free(b);
	kc_report_free(r);
	kc_report_free(r2);
}

static void expect_load_error(const char *json, const char *want)
{
	struct kc_report *r = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_report_from_json(json, strlen(json), &r, &err), -1);
	char *s = kc_err_string(err);
	if (!strstr(s, want))
		fail_msg("error \"%s\" does not contain \"%s\"", s, want);
	free(s);
	kc_err_free(&err);
}

static void test_reader_errors(void **state)
{
	(void)state;
	expect_load_error("[]", "not an object");
	expect_load_error("{\"app\":\"x\"}", "schema");
	expect_load_error("{\"schema\":\"other/9\",\"app\":\"x\"}", "other/9");
	expect_load_error("{\"schema\":\"kctl-compare-report/1\"}", "/app: missing");
	expect_load_error(
	    "{\"schema\":\"kctl-compare-report/1\",\"app\":\"x\",\"steps\":[{\"from\":"
	    "\"a\",\"to\":\"b\",\"mutable\":{\"outcome\":\"ok\",\"wall_ms\":\"fast\"}}]}",
	    "/steps/0/mutable/wall_ms: not a number");
	expect_load_error(
	    "{\"schema\":\"kctl-compare-report/1\",\"app\":\"x\",\"steps\":[{\"from\":"
	    "\"a\",\"to\":\"b\",\"immutable\":{\"outcome\":\"ok\",\"probe\":{\"samples\""
	    ":[{\"t_ms\":1,\"ok\":true},{\"t_ms\":2}]}}}]}",
	    "/steps/0/immutable/probe/samples/1: \"ok\" is not a boolean");
	expect_load_error(
	    "{\"schema\":\"kctl-compare-report/1\",\"app\":\"x\",\"steps\":[{\"from\":"
	    "\"a\",\"to\":\"b\",\"mutable\":{\"outcome\":\"ok\",\"drift\":{\"replicas\""
	    ":[{\"replica\":\"r\",\"added\":true}]}}}]}",
	    "/steps/0/mutable/drift/replicas/0/added");
	expect_load_error("{\"schema\":\"kctl-compare-report/1\",\"app\":\"x\",", "invalid JSON");
}

/* A model built through the API, with hostile strings and a step the mutable
 * side never ran. */
static void test_built_model_escaping(void **state)
{
	(void)state;
	struct kc_report *r = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_report_new("<b>\"app\" & 'co'</b>", &r, &err), 0);
	assert_int_equal(kc_report_add_version(r, "v1<", &err), 0);
	assert_int_equal(kc_report_add_version(r, "v2>", &err), 0);
	struct kc_report_step *s = NULL;
	assert_int_equal(kc_report_add_step(r, "v1<", "v2>", &s, &err), 0);
	kc_result_init(&s->r[KC_IMMUTABLE]);
	struct kc_report_result *res = &s->r[KC_IMMUTABLE];
	res->wall_ms = kc_fig(1234);
	res->probe.requests = kc_fig(3);
	res->probe.failures = kc_fig(1);
	for (int i = 0; i < 3; i++) {
		struct kc_report_sample smp = {.t_ms = 100.0 * i,
					      .ok = i != 1,
					      .status = i != 1 ? 200 : 503,
					      .latency_ms = kc_fig(1.5)};
		assert_int_equal(kc_result_add_sample(res, &smp, &err), 0);
	}
	assert_int_equal(kc_result_add_phase(res, "pull</td>", kc_fig(10), &err), 0);
	assert_int_equal(kc_result_add_drift(res, "bad\xff\x01name\xed\xa0\x80", "st<x>", kc_fig(0),
					     kc_fig(0), kc_fig(0), &err),
			 0);
	assert_int_equal(kc_result_add_writable(res, "c1", kc_fig(0), &err), 0);
	assert_int_equal(kc_result_add_note(res, &err, "note %s", "a]]>b"), 0);

	char *html = render_html(r);
	check_well_formed(html);
	assert_null(strstr(html, "<b>\"app\""));
	assert_non_null(strstr(html, "&lt;b&gt;&quot;app&quot; &amp; &#39;co&#39;&lt;/b&gt;"));
	assert_non_null(strstr(html, "pull&lt;/td&gt;"));
	/* Invalid UTF-8, a control character and a surrogate each became U+FFFD. */
	assert_non_null(strstr(html, "bad\xef\xbf\xbd\xef\xbf\xbdname\xef\xbf\xbd\xef\xbf\xbd"));
	assert_int_equal(count(html, "<svg "), kc_report_html_chart_count(r));
	/* The mutable side did not run: "not run" everywhere, never a number. */
	assert_non_null(strstr(html, "not run"));
	char *fig = figure(html, "chart-cpu");
	assert_int_equal(count(fig, "not measured"), 1); /* immutable: stats missing */
	assert_int_equal(count(fig, "not run"), 1);
	free(fig);
	free(html);

	char *json = NULL;
	size_t len;
	assert_int_equal(kc_report_to_json(r, false, &json, &len, &err), 0);
	assert_non_null(strstr(json, "\"mutable\":null"));
	assert_non_null(strstr(json, "\"cpu_seconds\":null"));
	struct kc_report *back = NULL;
	assert_int_equal(kc_report_from_json(json, len, &back, &err), 0);
	assert_false(back->steps[0].r[KC_MUTABLE].present);
	assert_int_equal(back->steps[0].r[KC_IMMUTABLE].probe.samples[1].status, 503);
	kc_report_free(back);
	free(json);

	char *text = render_text(r);
	assert_non_null(strstr(text, "not run"));
	free(text);
	kc_report_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixture_html),
	    cmocka_unit_test(test_json_roundtrip),
	    cmocka_unit_test(test_reader_errors),
	    cmocka_unit_test(test_built_model_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
