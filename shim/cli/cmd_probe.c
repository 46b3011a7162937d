/* kctl probe URL --rate N --duration D: a steady stream of requests and what
 * it saw (sent, failed, longest gap without an answer, latency). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare/probe.h"
#include "shim/base/duration.h"
#include "shim/base/json.h"

struct probe_opts {
	double rate;
	int64_t duration_ms, timeout_ms;
	bool samples;
};

static int probe_opt(void *opaque, int opt, const char *arg, kc_err_t *err)
{
	struct probe_opts *o = opaque;
	char *end;
	switch (opt) {
	case 'r':
		errno = 0;
		o->rate = strtod(arg, &end);
		if (errno || *end || o->rate <= 0)
			return kc_cli_usage_error(&kc_cmd_probe, err,
						  "--rate: \"%s\" is not a positive number", arg);
		return 0;
	case 'd':
		if (kc_duration_parse(arg, &o->duration_ms, err) < 0)
			return kc_err_wrap(err, "--duration");
		return 0;
	case 't':
		if (kc_duration_parse(arg, &o->timeout_ms, err) < 0)
			return kc_err_wrap(err, "--timeout");
		return 0;
	case 's':
		o->samples = true;
		return 0;
	}
	return kc_cli_usage_error(&kc_cmd_probe, err, "unexpected option");
}

static int run_probe(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	struct probe_opts o = {.rate = 50, .duration_ms = 10000, .timeout_ms = 1000};
	static const struct option longopts[] = {{"rate", required_argument, NULL, 'r'},
						 {"duration", required_argument, NULL, 'd'},
						 {"timeout", required_argument, NULL, 't'},
						 {"samples", no_argument, NULL, 's'},
						 {0}};
	int p = kc_cli_parse(cli, &kc_cmd_probe, argc, argv, "r:d:t:", longopts, probe_opt, &o,
			     err);
	if (p != 0)
		return p < 0 ? -1 : KC_EXIT_OK;
	if (argc - optind != 1)
		return kc_cli_usage_error(&kc_cmd_probe, err, "exactly one URL expected");
	struct kc_probe_config cfg = {.url = argv[optind],
				      .rate = o.rate,
				      .duration_ms = (long)o.duration_ms,
				      .timeout_ms = (long)o.timeout_ms,
				      .log = &cli->log};
	struct kc_probe_result r;
	if (cli->stdout_tty && cli->output == KC_OUTPUT_TEXT)
		fprintf(stderr, "probing %s at %.0f/s for %.1fs...\n", cfg.url, cfg.rate,
			(double)cfg.duration_ms / 1000.0);
	if (kc_probe_run(&cfg, &r, err) < 0)
		return -1;
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "url", cfg.url);
		kc_jgen_kv_double(g, "rate", cfg.rate);
		kc_jgen_kv_int(g, "durationMs", r.duration_ms);
		kc_jgen_kv_int(g, "requests", (int64_t)r.requests);
		kc_jgen_kv_int(g, "failures", (int64_t)r.failures);
		kc_jgen_kv_int(g, "longestGapMs", r.longest_gap_ms);
		kc_jgen_kv_int(g, "latencyP50Ms", r.p50_ms);
		kc_jgen_kv_int(g, "latencyP99Ms", r.p99_ms);
		kc_jgen_kv_int(g, "latencyMaxMs", r.max_ms);
		kc_jgen_kv_str(g, "firstError", r.first_error);
		if (o.samples) {
			kc_jgen_key(g, "samples");
			yajl_gen_array_open(g);
			for (size_t i = 0; i < r.n_samples; i++) {
				yajl_gen_array_open(g);
				yajl_gen_integer(g, r.samples[i].offset_ms);
				yajl_gen_integer(g, r.samples[i].latency_ms);
				yajl_gen_integer(g, r.samples[i].status);
				yajl_gen_array_close(g);
			}
			yajl_gen_array_close(g);
		}
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
	} else {
		printf("requests:     %llu\nfailures:     %llu\nlongest gap:  %lld ms\n"
		       "latency:      p50 %lld ms, p99 %lld ms, max %lld ms\n",
		       (unsigned long long)r.requests, (unsigned long long)r.failures,
		       (long long)r.longest_gap_ms, (long long)r.p50_ms, (long long)r.p99_ms,
		       (long long)r.max_ms);
		if (r.first_error)
			printf("first error:  %s\n", r.first_error);
	}
	kc_probe_result_free(&r);
	return KC_EXIT_OK;
}

const struct kc_cmd kc_cmd_probe = {
	.name = "probe",
	.summary = "send steady requests to a URL and report failures and gaps",
	.usage = "Usage: kctl probe [OPTIONS] URL\n\n"
		 "GETs URL at a fixed rate, each request on a new connection, and reports how\n"
		 "many were sent and failed (transport error or non-2xx), the longest time\n"
		 "without a successful answer, and latency. The rate holds whatever the answers\n"
		 "do, so downtime shows as failures rather than as a slower probe.\n\n"
		 "Options:\n"
		 "  -r, --rate N          requests per second (default 50)\n"
		 "  -d, --duration D      how long, as 10s, 2m (default 10s)\n"
		 "  -t, --timeout D       per request (default 1s)\n"
		 "      --samples         with -o json, include every request as\n"
		 "                        [offset ms, latency ms, status]\n" KC_CLI_COMMON_HELP,
	.run = run_probe,
};
