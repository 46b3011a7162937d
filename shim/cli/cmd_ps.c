/* kctl ps [APP]: the containers kctl manages, found by their labels. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "shim/base/json.h"
#include "shim/engine/engine.h"

struct ps_opts {
	bool all;
};

static int ps_opt(void *opaque, int opt, const char *arg, kc_err_t *err)
{
	(void)arg;
	(void)err;
	struct ps_opts *o = opaque;
	if (opt == 'a') {
		o->all = true;
		return 0;
	}
	return kc_err_new(err, KC_E_USAGE, "unexpected option");
}

static const char *label_or_dash(const struct kc_container_info *c, const char *key)
{
	const char *v = kc_labels_get(&c->labels, key);
	return v ? v : "-";
}

static void short_digest(const char *digest, char out[20])
{
	const char *hex = strncmp(digest, "sha256:", 7) ? digest : digest + 7;
	snprintf(out, 20, "%.12s", hex);
}

static int cmp_containers(const void *a, const void *b)
{
	const struct kc_container_info *x = a, *y = b;
	int r = strcmp(label_or_dash(x, "io.kctl.app"), label_or_dash(y, "io.kctl.app"));
	if (r)
		return r;
	long rx = strtol(label_or_dash(x, "io.kctl.revision"), NULL, 10);
	long ry = strtol(label_or_dash(y, "io.kctl.revision"), NULL, 10);
	if (rx != ry)
		return rx < ry ? 1 : -1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int run_ps(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	struct ps_opts o = {0};
	static const struct option longopts[] = {{"all", no_argument, NULL, 'a'}, {0}};
	int p = kc_cli_parse(cli, &kc_cmd_ps, argc, argv, "a", longopts, ps_opt, &o, err);
	if (p != 0)
		return p < 0 ? -1 : KC_EXIT_OK;
	if (argc - optind > 1)
		return kc_cli_usage_error(&kc_cmd_ps, err, "at most one APP");
	const char *app = optind < argc ? argv[optind] : NULL;

	cleanup_engine struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, err) < 0)
		return -1;
	struct kc_label filters[] = {{"io.kctl.app", app}};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	if (kc_engine_container_list(eng, o.all, filters, 1, &list, &n, err) < 0)
		return kc_err_wrap(err, "listing containers");
	qsort(list, n, sizeof *list, cmp_containers);

	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++) {
			const struct kc_container_info *c = &list[i];
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "id", c->id);
			kc_jgen_kv_str(g, "name", c->name);
			kc_jgen_kv_str(g, "app", kc_labels_get(&c->labels, "io.kctl.app"));
			kc_jgen_kv_str(g, "revision", kc_labels_get(&c->labels, "io.kctl.revision"));
			kc_jgen_kv_str(g, "mode", kc_labels_get(&c->labels, "io.kctl.mode"));
			kc_jgen_kv_str(g, "imageDigest",
				       kc_labels_get(&c->labels, "io.kctl.image-digest"));
			kc_jgen_kv_str(g, "image", c->image);
			kc_jgen_kv_str(g, "state", kc_state_name(c->state));
			kc_jgen_kv_str(g, "health", kc_health_name(c->health));
			kc_jgen_kv_str(g, "status", c->status);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		kc_cli_print_json(g);
	} else {
		struct kc_table *t = kc_table_new(8);
		kc_table_add(t, "APP", "REVISION", "CONTAINER", "NAME", "DIGEST", "MODE", "STATE",
			     "HEALTH");
		for (size_t i = 0; i < n; i++) {
			const struct kc_container_info *c = &list[i];
			char id[13], dg[20] = "-";
			snprintf(id, sizeof id, "%.12s", c->id ? c->id : "");
			const char *digest = kc_labels_get(&c->labels, "io.kctl.image-digest");
			if (digest)
				short_digest(digest, dg);
			kc_table_add(t, label_or_dash(c, "io.kctl.app"),
				     label_or_dash(c, "io.kctl.revision"), id, c->name, dg,
				     label_or_dash(c, "io.kctl.mode"), kc_state_name(c->state),
				     kc_health_name(c->health));
		}
		kc_table_print(t, stdout);
		kc_table_free(t);
	}
	kc_container_list_free(list, n);
	return KC_EXIT_OK;
}

const struct kc_cmd kc_cmd_ps = {
	.name = "ps",
	.summary = "list the containers kctl manages",
	.usage = "Usage: kctl ps [OPTIONS] [APP]\n\n"
		 "Lists containers labelled io.kctl.app (only APP's when given): app, revision,\n"
		 "container id, name, image digest, mode (immutable or mutable), state, health.\n\n"
		 "Options:\n"
		 "  -a, --all             include stopped containers (kept revisions)\n" KC_CLI_COMMON_HELP,
	.run = run_ps,
};
