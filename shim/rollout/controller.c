/* The one-host deployment controller behind kctl rollout: see rollout.h.
 *
 * Each call reads the app's containers from the engine, decides, acts, and
 * re-reads; nothing about a rollout lives outside the engine but the lock. */
#include "rollout.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shim/base/cleanup.h"
#include "shim/base/http.h"
#include "shim/base/json.h"
#include "shim/base/sha256.h"
#include "shim/base/state.h"
#include "shim/base/util.h"
#include "shim/rollout/resolve.h"

#define HEALTH_PORT_FIRST 20000
#define HEALTH_PORT_LAST 29999
#define TICK_MS 100
#define UNDO_READY_TIMEOUT_MS 60000

/* ---- small helpers ---- */

static void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void strv_push(char ***v, const char *s)
{
	size_t n = 0;
	while (*v && (*v)[n])
		n++;
	char **nv = realloc(*v, (n + 2) * sizeof *nv);
	if (!nv)
		return;
	nv[n] = strdup(s);
	nv[n + 1] = NULL;
	*v = nv;
}

static void event(const struct kc_rollout_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void event(const struct kc_rollout_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kc_log_progressv(o->log, o->on_event, o->event_opaque, fmt, ap);
	va_end(ap);
}

static int label_int(const struct kc_container_info *c, const char *key)
{
	const char *v = kc_labels_get(&c->labels, key);
	return v ? (int)strtol(v, NULL, 10) : 0;
}

static bool is_running(const struct kc_container_info *c)
{
	return c->state == KC_STATE_RUNNING || c->state == KC_STATE_RESTARTING;
}

/* ---- the app as the engine sees it ---- */

struct app_view {
	struct kc_container_info *list;
	size_t n;
};

static void app_view_free(struct app_view *v)
{
	kc_container_list_free(v->list, v->n);
	v->list = NULL;
	v->n = 0;
}

static int app_view_load(struct kc_engine *e, const char *app, struct app_view *v, kc_err_t *err)
{
	app_view_free(v);
	struct kc_label filter[] = {{KC_LABEL_APP, app}};
	if (kc_engine_container_list(e, true, filter, 1, &v->list, &v->n, err) < 0)
		return kc_err_wrap(err, "listing containers of %s", app);
	return 0;
}

/* The active revision: the highest one with running containers. */
static int active_revision(const struct app_view *v)
{
	int rev = 0;
	for (size_t i = 0; i < v->n; i++)
		if (is_running(&v->list[i]) && label_int(&v->list[i], KC_LABEL_REVISION) > rev)
			rev = label_int(&v->list[i], KC_LABEL_REVISION);
	return rev;
}

static int max_revision(const struct app_view *v)
{
	int rev = 0;
	for (size_t i = 0; i < v->n; i++)
		if (label_int(&v->list[i], KC_LABEL_REVISION) > rev)
			rev = label_int(&v->list[i], KC_LABEL_REVISION);
	return rev;
}

static const struct kc_container_info *first_of_revision(const struct app_view *v, int rev)
{
	for (size_t i = 0; i < v->n; i++)
		if (label_int(&v->list[i], KC_LABEL_REVISION) == rev)
			return &v->list[i];
	return NULL;
}

/* The newest revision whose template hash is `hash`, 0 when none. */
static int revision_with_hash(const struct app_view *v, const char *hash)
{
	int rev = 0;
	for (size_t i = 0; i < v->n; i++) {
		const char *h = kc_labels_get(&v->list[i].labels, KC_LABEL_TEMPLATE_HASH);
		int r = label_int(&v->list[i], KC_LABEL_REVISION);
		if (h && !strcmp(h, hash) && r > rev)
			rev = r;
	}
	return rev;
}

/* ---- readiness ---- */

struct replica {
	char *id, *name;
	int revision;
	int health_port;
	bool created_here;  /* created by this call: removed again on undo */
	bool started_here;  /* a kept container this call started: stopped again on undo */
	bool running;
	bool ready;
	int successes, failures;
	int64_t started_ms, next_probe_ms;
	char *last_error;
};

static void replica_clear(struct replica *r)
{
	free(r->id);
	free(r->name);
	free(r->last_error);
	memset(r, 0, sizeof *r);
}

struct replica_set {
	struct replica *r;
	size_t n, cap;
};

static struct replica *set_add(struct replica_set *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct replica *nr = realloc(s->r, cap * sizeof *nr);
		if (!nr)
			return NULL;
		s->r = nr;
		s->cap = cap;
	}
	memset(&s->r[s->n], 0, sizeof s->r[s->n]);
	return &s->r[s->n++];
}

static void set_free(struct replica_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		replica_clear(&s->r[i]);
	free(s->r);
	memset(s, 0, sizeof *s);
}

static size_t set_count(const struct replica_set *s, bool (*pred)(const struct replica *))
{
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		k += pred(&s->r[i]);
	return k;
}

static bool r_running(const struct replica *r)
{
	return r->running;
}

static bool r_ready(const struct replica *r)
{
	return r->running && r->ready;
}

static int tcp_connect_ok(int port, int timeout_s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct timeval tv = {.tv_sec = timeout_s > 0 ? timeout_s : 1};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* One readiness check of one replica; *why gets the reason on failure. */
static bool probe_once(struct kc_engine *e, struct kc_http *http, const struct kc_deploy_probe *p,
		       const struct replica *r, char **why)
{
	if (p->kind == KC_PROBE_HTTP) {
		cleanup_free char *url = NULL;
		if (asprintf(&url, "http://127.0.0.1:%d%s", r->health_port,
			     p->path && *p->path == '/' ? p->path : "/") < 0)
			return false;
		struct kc_http_request req = {.path = url,
					      .timeout_ms = (p->timeout_s > 0 ? p->timeout_s : 1) * 1000L,
					      .no_retry = true,
					      .max_response = 64 * 1024};
		struct kc_http_response resp = {0};
		kc_err_t err = NULL;
		bool ok = false;
		if (kc_http_do(http, &req, &resp, &err) < 0) {
			*why = kc_err_string(err);
		} else if (resp.status >= 200 && resp.status < 400) {
			ok = true;
		} else if (asprintf(why, "GET %s: HTTP %ld", url, resp.status) < 0) {
			*why = NULL;
		}
		kc_err_free(&err);
		kc_http_response_free(&resp);
		return ok;
	}
	if (p->kind == KC_PROBE_TCP) {
		if (tcp_connect_ok(r->health_port, p->timeout_s))
			return true;
		if (asprintf(why, "connect 127.0.0.1:%d refused", r->health_port) < 0)
			*why = NULL;
		return false;
	}
	if (p->kind == KC_PROBE_EXEC) {
		struct kc_exec_spec spec = {.cmd = (const char *const *)p->command,
					    .timeout_ms = (p->timeout_s > 0 ? p->timeout_s : 1) * 1000L,
					    .max_output = 4096};
		struct kc_exec_result res = {0};
		kc_err_t err = NULL;
		bool ok = false;
		if (kc_engine_exec(e, r->id, &spec, &res, &err) < 0)
			*why = kc_err_string(err);
		else if (res.exit_code == 0)
			ok = true;
		else if (asprintf(why, "exec probe exited %d", res.exit_code) < 0)
			*why = NULL;
		kc_err_free(&err);
		kc_exec_result_free(&res);
		return ok;
	}
	return true; /* no probe: running is ready */
}

/* Probes every replica that is due; marks the ones that exited. */
static void probe_due(struct kc_engine *e, struct kc_http *http, const struct kc_deploy_probe *p,
		      struct replica_set *s)
{
	int64_t now = kc_mono_ms();
	for (size_t i = 0; i < s->n; i++) {
		struct replica *r = &s->r[i];
		if (!r->running || r->ready || now < r->next_probe_ms)
			continue;
		char *why = NULL;
		bool ok = probe_once(e, http, p, r, &why);
		r->next_probe_ms = now + (p->period_s > 0 ? p->period_s : 10) * 1000L;
		if (ok) {
			r->failures = 0;
			if (++r->successes >= (p->success_threshold > 0 ? p->success_threshold : 1))
				r->ready = true;
		} else {
			r->successes = 0;
			r->failures++;
			free(r->last_error);
			r->last_error = why ? why : strdup("probe failed");
			why = NULL;
			/* A container that died answers no probe: say so. */
			struct kc_container_info ci = {0};
			kc_err_t err = NULL;
			if (kc_engine_container_inspect(e, r->id, &ci, &err) == 0 && !is_running(&ci)) {
				r->running = false;
				free(r->last_error);
				if (asprintf(&r->last_error, "container exited with code %d",
					     ci.exit_code) < 0)
					r->last_error = NULL;
			}
			kc_err_free(&err);
			kc_container_info_free(&ci);
		}
		free(why);
	}
}

/* ---- creating replicas ---- */

static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* A health port no kctl container holds and nothing listens on now. */
static int pick_health_port(struct kc_engine *e, const struct replica_set *pending, int *out,
			    kc_err_t *err)
{
	struct kc_label filter[] = {{KC_LABEL_HEALTH_PORT, NULL}};
	struct kc_container_info *all = NULL;
	size_t n = 0;
	if (kc_engine_container_list(e, true, filter, 1, &all, &n, err) < 0)
		return kc_err_wrap(err, "listing health ports in use");
	int found = 0;
	for (int port = HEALTH_PORT_FIRST; port <= HEALTH_PORT_LAST && !found; port++) {
		bool used = false;
		for (size_t i = 0; i < n && !used; i++)
			used = label_int(&all[i], KC_LABEL_HEALTH_PORT) == port;
		for (size_t i = 0; i < pending->n && !used; i++)
			used = pending->r[i].health_port == port;
		if (!used && port_free(port))
			found = port;
	}
	kc_container_list_free(all, n);
	if (!found)
		return kc_err_new(err, KC_E_CONFLICT, "no free health port in %d-%d",
				  HEALTH_PORT_FIRST, HEALTH_PORT_LAST);
	*out = found;
	return 0;
}

/* What every replica of a revision shares. */
struct revision_spec {
	const struct kc_deploy_spec *m;
	const char *app, *image, *digest, *image_ref;
	int revision;
	char *template_hash;
	char *deployment_json;
	const char *change_cause;
	bool mutable_mode;
};

/* Replica environment: the manifest's, with the health port replaced. */
struct env_list {
	const char **env; /* NULL-terminated view of owned */
	char **owned;
	size_t n;
};

static void env_list_free(struct env_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->owned[i]);
	free(l->owned);
	free(l->env);
}

static int env_list_build(const struct kc_deploy_spec *m, int health_port, struct env_list *l,
			  kc_err_t *err)
{
	l->env = calloc(m->nenv + 2, sizeof *l->env);
	l->owned = calloc(m->nenv + 2, sizeof *l->owned);
	if (!l->env || !l->owned)
		return kc_err_sys(err, ENOMEM, "replica environment");
	for (size_t i = 0; i < m->nenv; i++) {
		if (health_port && !strcmp(m->env[i].key, KC_HEALTH_PORT_ENV))
			continue;
		if (asprintf(&l->owned[l->n], "%s=%s", m->env[i].key, m->env[i].value) < 0)
			return kc_err_sys(err, ENOMEM, "replica environment");
		l->env[l->n] = l->owned[l->n];
		l->n++;
	}
	if (health_port) {
		if (asprintf(&l->owned[l->n], "%s=%d", KC_HEALTH_PORT_ENV, health_port) < 0)
			return kc_err_sys(err, ENOMEM, "replica environment");
		l->env[l->n] = l->owned[l->n];
		l->n++;
	}
	return 0;
}

/* emptyDir -> tmpfs, persistentVolumeClaim -> named volume. */
struct mount_list {
	struct kc_tmpfs_mount *tmpfs;
	struct kc_volume_mount *vols;
	char **opts;
	size_t n_tmpfs, n_vols;
};

static void mount_list_free(struct mount_list *l)
{
	for (size_t i = 0; i < l->n_tmpfs; i++)
		free(l->opts[i]);
	free(l->opts);
	free(l->tmpfs);
	free(l->vols);
}

static int mount_list_build(const struct kc_deploy_spec *m, struct mount_list *l, kc_err_t *err)
{
	l->tmpfs = calloc(m->nmounts + 1, sizeof *l->tmpfs);
	l->vols = calloc(m->nmounts + 1, sizeof *l->vols);
	l->opts = calloc(m->nmounts + 1, sizeof *l->opts);
	if (!l->tmpfs || !l->vols || !l->opts)
		return kc_err_sys(err, ENOMEM, "replica mounts");
	for (size_t i = 0; i < m->nmounts; i++) {
		const struct kc_deploy_mount *mt = &m->mounts[i];
		if (mt->kind == KC_VOLUME_TMPFS) {
			char *opt = NULL;
			if (mt->size_bytes > 0 &&
			    asprintf(&opt, "size=%lld", (long long)mt->size_bytes) < 0)
				return kc_err_sys(err, ENOMEM, "replica mounts");
			l->opts[l->n_tmpfs] = opt;
			l->tmpfs[l->n_tmpfs++] =
				(struct kc_tmpfs_mount){.target = mt->mount_path, .options = opt};
		} else {
			l->vols[l->n_vols++] = (struct kc_volume_mount){
				.name = mt->source, .target = mt->mount_path, .read_only = mt->read_only};
		}
	}
	return 0;
}

static int random_suffix(char out[6], kc_err_t *err)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	uint8_t rnd[5];
	cleanup_fclose FILE *ur = fopen("/dev/urandom", "re");
	if (!ur || fread(rnd, 1, sizeof rnd, ur) != sizeof rnd)
		return kc_err_sys(err, errno ? errno : EIO, "reading /dev/urandom");
	for (size_t i = 0; i < sizeof rnd; i++)
		out[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
	out[5] = '\0';
	return 0;
}

static int create_replica(struct kc_engine *e, const struct revision_spec *rs,
			  struct replica_set *set, const struct kc_rollout_opts *o, kc_err_t *err)
{
	const struct kc_deploy_spec *m = rs->m;
	int port = 0;
	if ((m->readiness.kind == KC_PROBE_HTTP || m->readiness.kind == KC_PROBE_TCP) &&
	    pick_health_port(e, set, &port, err) < 0)
		return -1;
	char suffix[6];
	if (random_suffix(suffix, err) < 0)
		return -1;
	cleanup_free char *name = NULL;
	if (asprintf(&name, "%s-%d-%s", rs->app, rs->revision, suffix) < 0)
		return kc_err_sys(err, ENOMEM, "naming replica");
	__attribute__((cleanup(env_list_free))) struct env_list env = {0};
	__attribute__((cleanup(mount_list_free))) struct mount_list mounts = {0};
	if (env_list_build(m, port, &env, err) < 0 || mount_list_build(m, &mounts, err) < 0)
		return -1;

	char rev[16], port_s[16], replicas[16];
	snprintf(rev, sizeof rev, "%d", rs->revision);
	snprintf(port_s, sizeof port_s, "%d", port);
	snprintf(replicas, sizeof replicas, "%d", m->replicas);
	struct kc_label labels[] = {
		{KC_LABEL_APP, rs->app},
		{KC_LABEL_REVISION, rev},
		{KC_LABEL_DIGEST, rs->digest},
		{KC_LABEL_MODE, rs->mutable_mode ? "mutable" : "immutable"},
		{KC_LABEL_IMAGE, rs->image_ref},
		{KC_LABEL_TEMPLATE_HASH, rs->template_hash},
		{KC_LABEL_TEMPLATE, rs->deployment_json},
		{KC_LABEL_CHANGE_CAUSE, rs->change_cause},
		{KC_LABEL_REPLICAS, replicas},
		{KC_LABEL_HEALTH_PORT, port_s}, /* last: left out without a probe port */
	};
	struct kc_container_spec spec = {
		.name = name,
		.image = rs->image,
		.labels = labels,
		.n_labels = sizeof labels / sizeof *labels - (port ? 0 : 1),
		.env = env.env,
		.cmd = (const char *const *)m->args,
		.entrypoint = (const char *const *)m->command,
		.network_mode = "host",
		.read_only_rootfs = m->read_only_rootfs && !rs->mutable_mode,
		.tmpfs = mounts.tmpfs,
		.n_tmpfs = mounts.n_tmpfs,
		.volumes = mounts.vols,
		.n_volumes = mounts.n_vols,
		.restart = KC_RESTART_UNLESS_STOPPED,
		.stop_signal = "SIGTERM",
		.stop_timeout_s = m->termination_grace_s,
		.workdir = m->working_dir,
	};
	char *id = NULL;
	if (kc_engine_container_create(e, &spec, &id, err) < 0)
		return kc_err_wrap(err, "creating %s", name);
	struct replica *r = set_add(set);
	if (!r) {
		kc_engine_container_remove(e, id, true, true, NULL);
		free(id);
		return kc_err_sys(err, ENOMEM, "replica");
	}
	r->id = id;
	r->name = kc_steal(name);
	r->revision = rs->revision;
	r->health_port = port;
	r->created_here = true;
	if (kc_engine_container_start(e, id, err) < 0)
		return kc_err_wrap(err, "starting %s", r->name);
	r->running = true;
	r->started_ms = kc_mono_ms();
	r->next_probe_ms = r->started_ms + (int64_t)m->readiness.initial_delay_s * 1000;
	event(o, "revision %d: started %s", rs->revision, r->name);
	return 0;
}

/* ---- one rollout ---- */

struct run {
	struct kc_engine *e;
	const struct kc_rollout_opts *o;
	struct kc_rollout_result *res;
	struct kc_http *http;
	struct revision_spec rs;
	struct replica_set fresh; /* replicas of the target revision */
	struct replica_set old;   /* running replicas of other revisions */
	struct replica_set kept;  /* stopped replicas of the target revision, reusable */
	int64_t started_ms;
};

static void run_free(struct run *r)
{
	set_free(&r->fresh);
	set_free(&r->old);
	set_free(&r->kept);
	free(r->rs.template_hash);
	free(r->rs.deployment_json);
	kc_http_free(r->http);
}

static int add_existing(struct replica_set *s, const struct kc_container_info *c)
{
	struct replica *r = set_add(s);
	if (!r)
		return -1;
	r->id = strdup(c->id);
	r->name = strdup(c->name ? c->name : c->id);
	r->revision = label_int(c, KC_LABEL_REVISION);
	r->health_port = label_int(c, KC_LABEL_HEALTH_PORT);
	r->running = is_running(c);
	return r->id && r->name ? 0 : -1;
}

static int start_kept(struct run *run, kc_err_t *err)
{
	struct replica *k = &run->kept.r[run->kept.n - 1];
	if (kc_engine_container_start(run->e, k->id, err) < 0)
		return kc_err_wrap(err, "starting kept replica %s", k->name);
	struct replica *r = set_add(&run->fresh);
	if (!r)
		return kc_err_sys(err, ENOMEM, "replica");
	*r = *k;
	memset(k, 0, sizeof *k);
	run->kept.n--;
	r->running = true;
	r->started_here = true;
	r->started_ms = kc_mono_ms();
	r->next_probe_ms = r->started_ms + (int64_t)run->rs.m->readiness.initial_delay_s * 1000;
	strv_push(&run->res->started, r->name);
	event(run->o, "revision %d: started kept replica %s", r->revision, r->name);
	return 0;
}

static int stop_replica(struct run *run, struct replica *r, kc_err_t *err)
{
	int64_t t = kc_mono_ms();
	event(run->o, "revision %d: stopping %s", r->revision, r->name);
	if (kc_engine_container_stop(run->e, r->id, run->rs.m->termination_grace_s, err) < 0)
		return kc_err_wrap(err, "stopping %s", r->name);
	r->running = false;
	run->res->phases.stop_old_ms += kc_mono_ms() - t;
	strv_push(&run->res->stopped, r->name);
	return 0;
}

static struct replica *last_running(struct replica_set *s)
{
	for (size_t i = s->n; i-- > 0;)
		if (s->r[i].running)
			return &s->r[i];
	return NULL;
}

/* Why the new replicas cannot become ready, or NULL while they still may. */
static char *failure_reason(const struct run *run)
{
	const struct kc_deploy_probe *p = &run->rs.m->readiness;
	int threshold = p->failure_threshold > 0 ? p->failure_threshold : 3;
	for (size_t i = 0; i < run->fresh.n; i++) {
		const struct replica *r = &run->fresh.r[i];
		char *s = NULL;
		if (!r->running && r->started_ms) {
			if (asprintf(&s, "replica %s stopped: %s", r->name,
				     r->last_error ? r->last_error : "container exited") < 0)
				s = NULL;
			return s ? s : strdup("a new replica stopped");
		}
		if (r->failures >= threshold) {
			if (asprintf(&s, "replica %s failed its readiness probe %d times: %s",
				     r->name, r->failures, r->last_error ? r->last_error : "?") < 0)
				s = NULL;
			return s ? s : strdup("a new replica failed readiness");
		}
	}
	return NULL;
}

/* Drives fresh up and old down until done or failed. Returns 0 when done, 1
 * when the rollout failed (res->reason set), -1 on an engine error. */
static int converge(struct run *run, int64_t deadline_ms, kc_err_t *err)
{
	const struct kc_deploy_spec *m = run->rs.m;
	size_t want = (size_t)m->replicas;
	size_t surge = (size_t)m->max_surge, unavail = (size_t)m->max_unavailable;
	if (m->strategy != KC_STRATEGY_ROLLING) {
		surge = want;
		unavail = want;
	}
	if (m->strategy == KC_STRATEGY_RECREATE) {
		struct replica *r;
		while ((r = last_running(&run->old)))
			if (stop_replica(run, r, err) < 0)
				return -1;
	}
	int64_t first_create = -1;
	for (;;) {
		probe_due(run->e, run->http, &m->readiness, &run->fresh);
		size_t fresh_alive = set_count(&run->fresh, r_running);
		size_t fresh_ready = set_count(&run->fresh, r_ready);
		size_t old_running = set_count(&run->old, r_running);
		char *why = failure_reason(run);
		if (why) {
			run->res->reason = why;
			return 1;
		}
		if (fresh_ready >= want && old_running == 0) {
			/* More ready than wanted (scaled down): stop the extra. */
			struct replica *x;
			while (set_count(&run->fresh, r_running) > want &&
			       (x = last_running(&run->fresh)))
				if (stop_replica(run, x, err) < 0)
					return -1;
			if (first_create >= 0)
				run->res->phases.ready_ms = kc_mono_ms() - first_create;
			return 0;
		}
		if (kc_mono_ms() > deadline_ms) {
			if (asprintf(&run->res->reason,
				     "progress deadline exceeded: %zu of %zu new replicas ready",
				     fresh_ready, want) < 0)
				run->res->reason = strdup("progress deadline exceeded");
			return 1;
		}
		/* Scale up within the surge. */
		while (fresh_alive < want && fresh_alive + old_running < want + surge) {
			int64_t t = kc_mono_ms();
			if (first_create < 0)
				first_create = t;
			if (run->kept.n > 0) {
				if (start_kept(run, err) < 0)
					return -1;
			} else {
				if (create_replica(run->e, &run->rs, &run->fresh, run->o, err) < 0)
					return -1;
				strv_push(&run->res->created, run->fresh.r[run->fresh.n - 1].name);
			}
			run->res->phases.create_ms += kc_mono_ms() - t;
			fresh_alive++;
		}
		/* Scale down old within the unavailability budget. */
		if (m->strategy == KC_STRATEGY_BLUE_GREEN) {
			if (fresh_ready >= want) {
				event(run->o, "all %zu new replicas ready: switching", want);
				struct replica *r;
				while ((r = last_running(&run->old)))
					if (stop_replica(run, r, err) < 0)
						return -1;
			}
		} else {
			struct replica *r;
			while (old_running > 0 && old_running - 1 + fresh_ready + unavail >= want &&
			       (r = last_running(&run->old))) {
				if (stop_replica(run, r, err) < 0)
					return -1;
				old_running--;
			}
		}
		sleep_ms(TICK_MS);
	}
}

/* Puts back what this run changed: its new replicas go, the old come back. */
static void undo_run(struct run *run)
{
	for (size_t i = 0; i < run->fresh.n; i++) {
		struct replica *r = &run->fresh.r[i];
		kc_err_t err = NULL;
		if (r->created_here) {
			if (kc_engine_container_remove(run->e, r->id, true, true, &err) == 0)
				strv_push(&run->res->removed, r->name);
		} else if (r->started_here) {
			kc_engine_container_stop(run->e, r->id, 0, &err);
		}
		if (err)
			kc_warn(run->o->log, "undo: %s: %s", r->name, err->msg);
		kc_err_free(&err);
	}
	bool restarted = false;
	for (size_t i = 0; i < run->old.n; i++) {
		struct replica *r = &run->old.r[i];
		if (r->running)
			continue;
		kc_err_t err = NULL;
		if (kc_engine_container_start(run->e, r->id, &err) == 0) {
			r->running = true;
			restarted = true;
			strv_push(&run->res->started, r->name);
			event(run->o, "undo: restarted %s", r->name);
		} else {
			kc_warn(run->o->log, "undo: restarting %s: %s", r->name, err->msg);
		}
		kc_err_free(&err);
	}
	if (!restarted)
		return;
	/* Wait until the restarted replicas answer on their health ports, so the
	 * command returns with the old revision serving again. */
	int64_t until = kc_mono_ms() + UNDO_READY_TIMEOUT_MS;
	for (size_t i = 0; i < run->old.n; i++) {
		struct replica *r = &run->old.r[i];
		while (r->running && r->health_port && kc_mono_ms() < until &&
		       !tcp_connect_ok(r->health_port, 1))
			sleep_ms(TICK_MS);
	}
}

/* Keeps revisionHistoryLimit stopped revisions; removes older ones. */
static void prune_history(struct run *run, int active, int limit)
{
	struct app_view v = {0};
	kc_err_t err = NULL;
	if (app_view_load(run->e, run->rs.app, &v, &err) < 0) {
		kc_warn(run->o->log, "history: %s", err->msg);
		kc_err_free(&err);
		return;
	}
	/* Revisions other than the active one, newest first. */
	int kept = 0, prev = -1;
	for (;;) {
		int best = 0;
		for (size_t i = 0; i < v.n; i++) {
			int r = label_int(&v.list[i], KC_LABEL_REVISION);
			if (r != active && r > best && (prev < 0 || r < prev))
				best = r;
		}
		if (!best)
			break;
		prev = best;
		if (++kept <= limit)
			continue;
		for (size_t i = 0; i < v.n; i++) {
			if (label_int(&v.list[i], KC_LABEL_REVISION) != best)
				continue;
			if (kc_engine_container_remove(run->e, v.list[i].id, true, false, &err) == 0)
				strv_push(&run->res->removed, v.list[i].name);
			else
				kc_warn(run->o->log, "history: %s", err->msg);
			kc_err_free(&err);
		}
	}
	app_view_free(&v);
}

static int hash_template(const struct kc_deploy_spec *m, const char *image, bool mutable_mode,
			 char **out, kc_err_t *err)
{
	cleanup_free char *json = NULL;
	if (kc_deploy_spec_template_json(m, image, &json, err) < 0)
		return -1;
	/* The mode shapes the container too (a writable root), so it is hashed. */
	cleanup_free char *hashed = NULL;
	if (asprintf(&hashed, "%s\n%s", json, mutable_mode ? "mutable" : "immutable") < 0)
		return kc_err_sys(err, ENOMEM, "template hash");
	char digest[KC_DIGEST_LEN + 1];
	if (kc_sha256_digest(hashed, strlen(hashed), digest, err) < 0)
		return -1;
	/* 16 hex digits name a template as Kubernetes' pod-template-hash does. */
	*out = strndup(digest + 7, 16);
	return *out ? 0 : kc_err_sys(err, ENOMEM, "template hash");
}

static char *plan_text(const struct run *run, const struct app_view *v, int active, bool changed)
{
	const struct kc_deploy_spec *m = run->rs.m;
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	fprintf(f, "app %s: image %s\n", run->rs.app, run->rs.image);
	if (!changed) {
		fprintf(f, "revision %d already runs this template with %d replicas: nothing to do\n",
			active, m->replicas);
	} else {
		fprintf(f, "strategy %s (maxSurge %d, maxUnavailable %d), %d replicas\n",
			kc_strategy_name(m->strategy), m->max_surge, m->max_unavailable,
			m->replicas);
		size_t reuse = run->kept.n;
		fprintf(f, "revision %d: start %zu kept and create %zu new replicas\n",
			run->rs.revision, reuse < (size_t)m->replicas ? reuse : (size_t)m->replicas,
			reuse < (size_t)m->replicas ? (size_t)m->replicas - reuse : 0);
		for (size_t i = 0; i < v->n; i++)
			if (is_running(&v->list[i]) &&
			    label_int(&v->list[i], KC_LABEL_REVISION) != run->rs.revision)
				fprintf(f, "stop %s (revision %d, kept for undo)\n", v->list[i].name,
					label_int(&v->list[i], KC_LABEL_REVISION));
	}
	fclose(f);
	return s;
}

static int plan(struct run *run, const struct app_view *v, int *active_out, bool *changed,
		kc_err_t *err)
{
	int active = active_revision(v);
	int same = revision_with_hash(v, run->rs.template_hash);
	run->rs.revision = same ? same : max_revision(v) + 1;
	for (size_t i = 0; i < v->n; i++) {
		const struct kc_container_info *c = &v->list[i];
		int rev = label_int(c, KC_LABEL_REVISION);
		struct replica_set *s = rev == run->rs.revision
						? (is_running(c) ? &run->fresh : &run->kept)
						: (is_running(c) ? &run->old : NULL);
		if (s && add_existing(s, c) < 0)
			return kc_err_sys(err, ENOMEM, "planning");
	}
	*active_out = active;
	*changed = !(active == run->rs.revision && run->old.n == 0 &&
		     run->fresh.n == (size_t)run->rs.m->replicas);
	return 0;
}

int kc_rollout_apply(struct kc_engine *e, const struct kc_deploy_spec *m,
		     const struct kc_rollout_opts *o, struct kc_rollout_result *res, kc_err_t *err)
{
	memset(res, 0, sizeof *res);
	int64_t t0 = kc_mono_ms();
	res->phases = (struct kc_rollout_phases){-1, -1, -1, -1, -1, -1};
	res->phases.create_ms = 0;
	res->phases.stop_old_ms = 0;
	res->app = strdup(m->name);
	const char *ref = o->image ? o->image : m->image;

	/* Everything that can fail on bad input fails here, before any container
	 * is touched: the image must resolve to a digest. */
	cleanup_free char *pinned = NULL;
	cleanup_free char *digest = NULL;
	int64_t t = kc_mono_ms();
	if (kc_rollout_resolve(e, ref, o->log, &pinned, &digest, err) < 0)
		return -1;
	res->phases.resolve_ms = kc_mono_ms() - t;
	res->image = strdup(pinned);
	res->digest = strdup(digest);

	__attribute__((cleanup(run_free))) struct run run = {.e = e, .o = o, .res = res};
	run.rs = (struct revision_spec){.m = m, .app = m->name, .image = pinned, .digest = digest,
					.image_ref = ref, .mutable_mode = o->mutable_mode};
	cleanup_free char *cause = NULL;
	const char *annotated = NULL;
	for (size_t i = 0; i < m->nannotations; i++)
		if (!strcmp(m->annotations[i].key, "kubernetes.io/change-cause"))
			annotated = m->annotations[i].value;
	if (o->change_cause) {
		run.rs.change_cause = o->change_cause;
	} else if (annotated && !o->image) {
		/* As kubectl records it: the manifest's own annotation. */
		run.rs.change_cause = annotated;
	} else {
		if (asprintf(&cause, "kctl rollout %s", ref) < 0)
			return kc_err_sys(err, ENOMEM, "change cause");
		run.rs.change_cause = cause;
	}
	if (hash_template(m, pinned, o->mutable_mode, &run.rs.template_hash, err) < 0 ||
	    kc_deploy_spec_to_json(m, pinned, false, &run.rs.deployment_json, err) < 0)
		return -1;

	__attribute__((cleanup(app_view_free))) struct app_view view = {0};
	if (app_view_load(e, m->name, &view, err) < 0)
		return -1;
	int active = 0;
	bool changed = false;
	if (plan(&run, &view, &active, &changed, err) < 0)
		return -1;
	res->previous_revision = active;
	res->revision = changed ? run.rs.revision : active;
	res->changed = changed;
	res->plan = plan_text(&run, &view, active, changed);
	if (o->dry_run || !changed) {
		res->phases.total_ms = kc_mono_ms() - t0;
		return 0;
	}

	int lock = -1;
	if (kc_state_lock(m->name, &lock, err) < 0)
		return kc_err_wrap(err, "rollout of %s", m->name);
	/* The image must be on the engine before old replicas are touched. */
	t = kc_mono_ms();
	struct kc_engine_image img = {0};
	kc_err_t ierr = NULL;
	if (kc_engine_image_inspect(e, pinned, &img, &ierr) < 0) {
		kc_err_free(&ierr);
		event(o, "pulling %s", pinned);
		if (kc_engine_image_pull(e, pinned, NULL, NULL, err) < 0) {
			kc_state_unlock(lock);
			return kc_err_wrap(err, "pulling %s", pinned);
		}
	}
	kc_engine_image_free(&img);
	res->phases.pull_ms = kc_mono_ms() - t;

	struct kc_http_config hc = {.base_url = "http://127.0.0.1", .max_retries = -1,
				    .connect_timeout_ms = 1000, .log = o->log};
	if (kc_http_new(&hc, &run.http, err) < 0) {
		kc_state_unlock(lock);
		return -1;
	}
	event(o, "rolling %s to revision %d (%s, %s)", m->name, run.rs.revision,
	      kc_strategy_name(m->strategy), pinned);
	int64_t timeout = o->timeout_ms > 0 ? o->timeout_ms : (int64_t)m->progress_deadline_s * 1000;
	int rc = converge(&run, kc_mono_ms() + timeout, err);
	if (rc != 0) {
		if (rc < 0)
			res->reason = kc_err_string(*err);
		undo_run(&run);
		res->undone = true;
		res->revision = active;
		res->phases.total_ms = kc_mono_ms() - t0;
		kc_state_unlock(lock);
		if (rc < 0)
			return kc_err_wrap(err, "rollout of %s failed and was undone", m->name);
		return kc_err_new(err, KC_E_GENERIC,
				  "rollout of %s to revision %d failed and was undone (revision %d "
				  "serves): %s",
				  m->name, run.rs.revision, active, res->reason);
	}
	prune_history(&run, run.rs.revision, m->revision_history_limit);
	kc_state_unlock(lock);
	res->phases.total_ms = kc_mono_ms() - t0;
	event(o, "%s: revision %d ready with %d replicas", m->name, run.rs.revision, m->replicas);
	return 0;
}

/* ---- reading the app back ---- */

static int manifest_of(const struct kc_container_info *c, struct kc_deploy_spec **out,
		       kc_err_t *err)
{
	const char *json = kc_labels_get(&c->labels, KC_LABEL_TEMPLATE);
	if (!json)
		return kc_err_new(err, KC_E_PROTO, "container %s has no %s label", c->name,
				  KC_LABEL_TEMPLATE);
	if (kc_deploy_spec_parse(json, strlen(json), KC_LABEL_TEMPLATE, out, err) < 0)
		return kc_err_wrap(err, "container %s", c->name);
	return 0;
}

int kc_rollout_undo(struct kc_engine *e, const char *app, int to,
		    const struct kc_rollout_opts *o, struct kc_rollout_result *res, kc_err_t *err)
{
	memset(res, 0, sizeof *res);
	__attribute__((cleanup(app_view_free))) struct app_view v = {0};
	if (app_view_load(e, app, &v, err) < 0)
		return -1;
	if (v.n == 0)
		return kc_err_new(err, KC_E_NOTFOUND, "no app %s", app);
	int active = active_revision(&v);
	int target = to;
	if (!target) {
		for (size_t i = 0; i < v.n; i++) {
			int r = label_int(&v.list[i], KC_LABEL_REVISION);
			if (r != active && r > target && (active == 0 || r < active))
				target = r;
		}
		if (!target)
			return kc_err_new(err, KC_E_NOTFOUND, "%s has no earlier revision to undo to",
					  app);
	}
	const struct kc_container_info *c = first_of_revision(&v, target);
	if (!c)
		return kc_err_new(err, KC_E_NOTFOUND, "%s has no revision %d (see kctl rollout "
						      "history %s)",
				  app, target, app);
	struct kc_deploy_spec *m = NULL;
	if (manifest_of(c, &m, err) < 0)
		return -1;
	struct kc_rollout_opts uo = *o;
	uo.image = NULL;
	uo.change_cause = kc_labels_get(&c->labels, KC_LABEL_CHANGE_CAUSE);
	int rc = kc_rollout_apply(e, m, &uo, res, err);
	kc_deploy_spec_free(m);
	return rc;
}

int kc_rollout_history(struct kc_engine *e, const char *app, struct kc_revision_info **out,
		       size_t *n, kc_err_t *err)
{
	__attribute__((cleanup(app_view_free))) struct app_view v = {0};
	if (app_view_load(e, app, &v, err) < 0)
		return -1;
	int active = active_revision(&v);
	struct kc_revision_info *list = calloc(v.n + 1, sizeof *list);
	if (!list)
		return kc_err_sys(err, ENOMEM, "history");
	size_t k = 0;
	for (size_t i = 0; i < v.n; i++) {
		const struct kc_container_info *c = &v.list[i];
		int rev = label_int(c, KC_LABEL_REVISION);
		struct kc_revision_info *r = NULL;
		for (size_t j = 0; j < k && !r; j++)
			if (list[j].revision == rev)
				r = &list[j];
		if (!r) {
			r = &list[k++];
			r->revision = rev;
			r->digest = strdup(kc_labels_get(&c->labels, KC_LABEL_DIGEST) ?: "");
			r->image = strdup(c->image ? c->image : "");
			r->change_cause = strdup(kc_labels_get(&c->labels, KC_LABEL_CHANGE_CAUSE) ?: "");
			r->created_ns = c->created_ns;
			r->active = rev == active;
		}
		r->containers++;
		r->running += is_running(c);
		if (c->created_ns && c->created_ns < r->created_ns)
			r->created_ns = c->created_ns;
	}
	/* Oldest first, as kubectl prints history. */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && list[j - 1].revision > list[j].revision; j--) {
			struct kc_revision_info t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	*out = list;
	*n = k;
	return 0;
}

void kc_revision_list_free(struct kc_revision_info *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].digest);
		free(r[i].image);
		free(r[i].change_cause);
	}
	free(r);
}

int kc_rollout_status(struct kc_engine *e, const char *app, const struct kc_log *log,
		      struct kc_app_status *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	struct app_view v = {0};
	if (app_view_load(e, app, &v, err) < 0)
		return -1;
	out->app = strdup(app);
	out->containers = v.list;
	out->n_containers = v.n;
	if (v.n == 0)
		return kc_err_new(err, KC_E_NOTFOUND, "no app %s", app);
	out->active_revision = active_revision(&v);
	if (!out->active_revision)
		return 0;
	const struct kc_container_info *first = first_of_revision(&v, out->active_revision);
	out->desired = label_int(first, KC_LABEL_REPLICAS);
	out->digest = strdup(kc_labels_get(&first->labels, KC_LABEL_DIGEST) ?: "");
	struct kc_deploy_spec *m = NULL;
	if (manifest_of(first, &m, err) < 0)
		return -1;
	struct kc_http *http = NULL;
	struct kc_http_config hc = {.base_url = "http://127.0.0.1", .max_retries = -1,
				    .connect_timeout_ms = 1000, .log = log};
	if (kc_http_new(&hc, &http, err) < 0) {
		kc_deploy_spec_free(m);
		return -1;
	}
	for (size_t i = 0; i < v.n; i++) {
		const struct kc_container_info *c = &v.list[i];
		int rev = label_int(c, KC_LABEL_REVISION);
		if (!is_running(c))
			continue;
		if (rev != out->active_revision) {
			out->rolling = true;
			continue;
		}
		out->running++;
		struct replica r = {.id = c->id, .name = c->name,
				    .health_port = label_int(c, KC_LABEL_HEALTH_PORT)};
		char *why = NULL;
		if (probe_once(e, http, &m->readiness, &r, &why))
			out->ready++;
		free(why);
	}
	kc_http_free(http);
	kc_deploy_spec_free(m);
	return 0;
}

void kc_app_status_free(struct kc_app_status *s)
{
	free(s->app);
	free(s->digest);
	kc_container_list_free(s->containers, s->n_containers);
	memset(s, 0, sizeof *s);
}

void kc_rollout_result_free(struct kc_rollout_result *r)
{
	free(r->app);
	free(r->image);
	free(r->digest);
	free(r->reason);
	free(r->plan);
	kc_strv_free(r->created);
	kc_strv_free(r->removed);
	kc_strv_free(r->stopped);
	kc_strv_free(r->started);
	memset(r, 0, sizeof *r);
}
