/* kctl-shim: container entrypoint (PID 1) that guards immutability from inside.
 *
 *   kctl-shim [--guard off|audit|enforce] [--writable DIR]... [--pgroup]
 *             [--state-dir DIR] [--no-baseline] [--baseline-root DIR]
 *             [--hash-threads N] -- APP ARGS...
 *   kctl-shim drift [--state-dir DIR] [--pretty]
 *
 * The state dir holds the baseline ("baseline") and the guard's counters
 * ("guard.json"). Default: /run/kctl-shim when it can be created and written,
 * else /tmp/kctl-shim (kctl's immutable containers have a read-only root and a
 * tmpfs /tmp). drift looks in the same two places. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"
#include "guard.h"
#include "init.h"
#include "text.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/util.h"

#define MAX_WRITABLE 64
#define MAX_COUNTS_FILE (64u << 10)

static const char *const default_state_dirs[] = {"/run/kctl-shim", "/tmp/kctl-shim"};

static void usage(FILE *f)
{
	fputs("usage: kctl-shim [--guard off|audit|enforce] [--writable DIR]... [--pgroup]\n"
	      "                 [--state-dir DIR] [--no-baseline] [--baseline-root DIR]\n"
	      "                 [--hash-threads N] -- APP [ARGS...]\n"
	      "       kctl-shim drift [--state-dir DIR] [--pretty]\n"
	      "       kctl-shim --version\n",
	      f);
}

/* Creates dir (one level, 0700) when missing and checks it can be written. */
static bool usable_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return false;
	struct stat sb;
	return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && access(dir, W_OK | X_OK) == 0;
}

/* Canonical form of a directory given on the command line: realpath when it
 * exists, else lexical normalisation against the cwd. */
static char *canonical_dir(const char *d)
{
	char buf[PATH_MAX];
	if (realpath(d, buf))
		return strdup(buf);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		strcpy(cwd, "/");
	if (kc_path_join_norm(cwd, d, buf, sizeof buf) < 0)
		return NULL;
	return strdup(buf);
}

/* A path as seen inside root ("/" + rest), or NULL when outside it. */
static const char *within_root(const char *root, const char *path)
{
	if (!strcmp(root, "/"))
		return path;
	if (!kc_path_under(path, root))
		return NULL;
	const char *rest = path + strlen(root);
	return *rest ? rest : "/";
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"guard", required_argument, NULL, 'g'},
	    {"writable", required_argument, NULL, 'w'},
	    {"pgroup", no_argument, NULL, 'p'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"no-baseline", no_argument, NULL, 'n'},
	    {"baseline-root", required_argument, NULL, 'r'},
	    {"hash-threads", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	cleanup_err kc_err_t err = NULL;
	struct kc_guard_policy pol = {.mode = KC_GUARD_AUDIT};
	char *writable[MAX_WRITABLE];
	size_t n_writable = 0;
	bool pgroup = false, baseline = true;
	const char *state_opt = NULL, *broot_opt = "/";
	unsigned threads = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+g:w:ps:nr:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (kc_guard_parse_mode(optarg, &pol.mode, &err) < 0) {
				kc_err_print(err, "kctl-shim", stderr);
				return 2;
			}
			break;
		case 'w':
			if (n_writable == MAX_WRITABLE) {
				fprintf(stderr, "kctl-shim: at most %d --writable\n", MAX_WRITABLE);
				return 2;
			}
			if (!(writable[n_writable] = canonical_dir(optarg))) {
				fprintf(stderr, "kctl-shim: --writable %s: bad path\n", optarg);
				return 2;
			}
			n_writable++;
			break;
		case 'p':
			pgroup = true;
			break;
		case 's':
			state_opt = optarg;
			break;
		case 'n':
			baseline = false;
			break;
		case 'r':
			broot_opt = optarg;
			break;
		case 't':
			threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kctl-shim %s\n", KCTL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	char **app = argv + optind;

	/* State dir: never fatal; without one there is no baseline file and no
	 * counters file, and the app still runs. */
	cleanup_free char *state = NULL;
	if (state_opt) {
		state = canonical_dir(state_opt);
		if (state && !usable_dir(state)) {
			fprintf(stderr, "kctl-shim: warning: state dir %s is not writable\n",
				state);
			free(state);
			state = NULL;
		}
	} else {
		for (size_t i = 0; i < 2 && !state; i++)
			if (usable_dir(default_state_dirs[i]))
				state = strdup(default_state_dirs[i]);
	}
	if (!state)
		fprintf(stderr, "kctl-shim: warning: no writable state dir; no baseline file\n");

	pol.writable = writable;
	pol.n_writable = n_writable;
	pol.protect = state;

	if (baseline && state) {
		cleanup_free char *root = canonical_dir(broot_opt);
		const char *skip[MAX_WRITABLE + 4];
		size_t n_skip = 0;
		const char *fixed[] = {"/proc", "/sys", "/dev"};
		for (size_t i = 0; i < 3 && root; i++)
			if (!strcmp(root, "/"))
				skip[n_skip++] = fixed[i];
		for (size_t i = 0; i < n_writable && root; i++) {
			const char *w = within_root(root, writable[i]);
			if (w)
				skip[n_skip++] = w;
		}
		const char *sw = root ? within_root(root, state) : NULL;
		if (sw)
			skip[n_skip++] = sw;
		struct kc_bl_walk_opts wo = {
		    .root = root ? root : "/", .skip = skip, .n_skip = n_skip, .threads = threads};
		struct kc_baseline b;
		struct kc_bl_walk_stats st;
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/baseline", state);
		int64_t t0 = kc_mono_ms();
		if (kc_baseline_walk(&wo, &b, &st, &err) < 0 ||
		    kc_baseline_write(&b, path, &err) < 0) {
			kc_err_print(err, "kctl-shim: warning: baseline", stderr);
			kc_err_free(&err);
		} else if (getenv("KCTL_SHIM_VERBOSE")) {
			fprintf(stderr,
				"kctl-shim: baseline %s: %zu entries, %" PRIu64
				" files hashed (%" PRIu64 " bytes) in %" PRId64 " ms\n",
				path, b.n, st.hashed_files, st.hashed_bytes, kc_mono_ms() - t0);
		}
		if (b.root)
			kc_baseline_free(&b);
	}

	char counts[PATH_MAX];
	if (state)
		snprintf(counts, sizeof counts, "%s/guard.json", state);
	struct kc_init_opts io = {
	    .argv = app,
	    .pgroup = pgroup,
	    .policy = pol,
	    .log = stderr,
	    .counts_path = state ? counts : NULL,
	};
	int code = 1;
	if (kc_init_run(&io, &code, &err) < 0) {
		kc_err_print(err, "kctl-shim", stderr);
		code = 1;
	}
	for (size_t i = 0; i < n_writable; i++)
		free(writable[i]);
	return code;
}

/* The counters file as a parsed tree, or NULL (absent, or not JSON). */
static yajl_val read_counts(const char *state)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/guard.json", state);
	cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char buf[MAX_COUNTS_FILE];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n <= 0 || (size_t)n == sizeof buf)
		return NULL;
	yajl_val v = NULL;
	cleanup_err kc_err_t err = NULL;
	if (kc_json_parse(buf, (size_t)n, &v, &err) < 0)
		return NULL;
	return v;
}

static int cmd_drift(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state-dir", required_argument, NULL, 's'},
	    {"pretty", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *state = NULL;
	bool pretty = false;
	int c;
	while ((c = getopt_long(argc, argv, "s:Ph", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			state = optarg;
			break;
		case 'P':
			pretty = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	char path[PATH_MAX];
	for (size_t i = 0; !state && i < 2; i++) {
		snprintf(path, sizeof path, "%s/baseline", default_state_dirs[i]);
		if (access(path, R_OK) == 0)
			state = default_state_dirs[i];
	}
	if (!state) {
		fprintf(stderr, "kctl-shim drift: no baseline in %s or %s\n", default_state_dirs[0],
			default_state_dirs[1]);
		return 2;
	}
	snprintf(path, sizeof path, "%s/baseline", state);
	cleanup_err kc_err_t err = NULL;
	struct kc_baseline old, cur;
	if (kc_baseline_load(path, &old, &err) < 0) {
		kc_err_print(err, "kctl-shim drift", stderr);
		return 2;
	}
	struct kc_bl_walk_opts wo = {.root = old.root,
				     .skip = (const char *const *)old.skip,
				     .n_skip = old.n_skip,
				     .prev = &old};
	struct kc_bl_walk_stats st;
	int64_t t0 = kc_mono_ms();
	if (kc_baseline_walk(&wo, &cur, &st, &err) < 0) {
		kc_err_print(err, "kctl-shim drift", stderr);
		kc_baseline_free(&old);
		return 2;
	}
	int64_t ms = kc_mono_ms() - t0;
	cleanup_json yajl_val counts = read_counts(state);
	cleanup_jgen yajl_gen g = kc_jgen_new(pretty);
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "baseline", path);
	cleanup_free char *sroot = kc_utf8_sanitize(old.root);
	kc_jgen_kv_str(g, "root", sroot ? sroot : "?");
	kc_jgen_kv_int(g, "baseline_created", old.created);
	struct kc_bl_diff_counts dc;
	kc_baseline_diff(&old, &cur, g, &dc);
	kc_jgen_key(g, "summary");
	yajl_gen_map_open(g);
	kc_jgen_kv_int(g, "added", (int64_t)dc.added);
	kc_jgen_kv_int(g, "changed", (int64_t)dc.changed);
	kc_jgen_kv_int(g, "deleted", (int64_t)dc.deleted);
	kc_jgen_kv_int(g, "entries", (int64_t)cur.n);
	kc_jgen_kv_int(g, "hashed_files", (int64_t)st.hashed_files);
	kc_jgen_kv_int(g, "reused_hashes", (int64_t)st.reused);
	kc_jgen_kv_int(g, "walk_ms", ms);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "guard");
	if (counts)
		kc_jgen_value(g, counts);
	else
		yajl_gen_null(g);
	yajl_gen_map_close(g);
	cleanup_free char *out = kc_jgen_finish(g, NULL);
	kc_baseline_free(&old);
	kc_baseline_free(&cur);
	if (!out) {
		fprintf(stderr, "kctl-shim drift: out of memory\n");
		return 2;
	}
	size_t ol = strlen(out);
	while (ol && out[ol - 1] == '\n') /* the pretty generator ends with one */
		out[--ol] = '\0';
	printf("%s\n", out);
	return dc.added || dc.changed || dc.deleted ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "drift"))
		return cmd_drift(argc - 1, argv + 1);
	return cmd_run(argc, argv);
}
