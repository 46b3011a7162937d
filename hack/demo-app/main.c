/* kctl-demo-app: the small static HTTP server the demo images run.
 *
 *   GET /         "Hello, World! Version N"   (N from $VERSION_FILE, default /app/VERSION)
 *   GET /healthz  200 "ok" when ready, 503 while starting or in broken mode
 *   GET /version  "N"
 *   GET /sleep?ms=N  answers after N ms (at most 30000): an in-flight request for tests
 *
 * Environment: PORT (service port, default 8080), HEALTH_PORT (per-replica port serving
 * the same routes; unset or 0 = none), BIND_ADDR (default 127.0.0.1), VERSION_FILE,
 * CONFIG_FILE (default /app/config/app.conf, "key=value" lines; `greeting` is used),
 * BROKEN_FILE (default /app/BROKEN; present = /healthz never passes), DEMO_BROKEN=1
 * (same), READY_DELAY_MS (/healthz fails for this long after start), DRAIN_TIMEOUT_MS
 * (default 25000), REPLICA_ID (sent back as X-Demo-Replica; default the pid).
 *
 * The service port is bound with SO_REUSEPORT so old and new replicas share it on the
 * host network. SIGHUP re-reads the version and config files (the mutable mode's
 * "reload"). SIGTERM/SIGINT: accept what is already queued, close the listeners, let
 * in-flight requests finish (up to DRAIN_TIMEOUT_MS), exit 0. Connections still queued
 * on the closed listener are reset by the kernel unless net.ipv4.tcp_migrate_req=1, which
 * moves them to the other SO_REUSEPORT listeners.
 *
 * One thread per connection (capped), Connection: close. Built static so it runs in a
 * FROM scratch image. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_REQ 8192
#define MAX_FILE 4096
#define IO_TIMEOUT_S 10

/* Process-wide state of a tiny server: set at start and on SIGHUP under cfg_lock. */
static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static char version[128] = "unknown";
static char greeting[256] = "Hello, World!";
static char replica[64];
static bool broken;
static struct timespec started;
static long ready_delay_ms;

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conn_cond = PTHREAD_COND_INITIALIZER;
static int active_conns;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kctl-demo-app: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max) {
		logmsg("%s=%s: not a number in [%ld, %ld]", name, v, min, max);
		exit(2);
	}
	return n;
}

/* Whole small file into buf, trailing whitespace trimmed; -1 when unreadable. */
static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	while (n < size - 1) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

static void load_config(void)
{
	char v[sizeof version], conf[MAX_FILE];
	char g[sizeof greeting];
	snprintf(g, sizeof g, "Hello, World!");
	if (read_small(env_or("VERSION_FILE", "/app/VERSION"), v, sizeof v) < 0)
		snprintf(v, sizeof v, "unknown");
	if (read_small(env_or("CONFIG_FILE", "/app/config/app.conf"), conf, sizeof conf) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(conf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "greeting=", 9) == 0)
				snprintf(g, sizeof g, "%s", line + 9);
		}
	}
	struct stat st;
	bool b = stat(env_or("BROKEN_FILE", "/app/BROKEN"), &st) == 0 ||
		 strcmp(env_or("DEMO_BROKEN", "0"), "1") == 0;
	pthread_mutex_lock(&cfg_lock);
	memcpy(version, v, sizeof version);
	memcpy(greeting, g, sizeof greeting);
	broken = b;
	pthread_mutex_unlock(&cfg_lock);
	logmsg("version %s%s", v, b ? " (broken: /healthz will fail)" : "");
}

static long ms_since_start(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - started.tv_sec) * 1000 + (now.tv_nsec - started.tv_nsec) / 1000000;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

static void respond(int fd, int status, const char *reason, const char *body)
{
	char head[512];
	size_t blen = strlen(body);
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\nX-Demo-Replica: %s\r\n\r\n",
			 status, reason, blen, replica);
	write_all(fd, head, (size_t)n);
	write_all(fd, body, blen);
}

static void handle(int fd)
{
	char req[MAX_REQ + 1];
	size_t n = 0;
	/* Read up to the end of the headers; a GET has no body. */
	while (n < MAX_REQ) {
		ssize_t r = recv(fd, req + n, MAX_REQ - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	if (n >= MAX_REQ) {
		respond(fd, 431, "Request Header Fields Too Large", "request too large\n");
		return;
	}
	char method[16], target[1024];
	if (sscanf(req, "%15s %1023s", method, target) != 2) {
		respond(fd, 400, "Bad Request", "bad request\n");
		return;
	}
	if (strcmp(method, "GET") != 0) {
		respond(fd, 405, "Method Not Allowed", "only GET\n");
		return;
	}
	char path[1024];
	snprintf(path, sizeof path, "%s", target);
	char *query = strchr(path, '?');
	if (query)
		*query++ = '\0';

	char body[512];
	pthread_mutex_lock(&cfg_lock);
	bool is_broken = broken;
	char v[sizeof version];
	memcpy(v, version, sizeof v);
	snprintf(body, sizeof body, "%s Version %s\n", greeting, version);
	pthread_mutex_unlock(&cfg_lock);

	if (strcmp(path, "/") == 0) {
		respond(fd, 200, "OK", body);
	} else if (strcmp(path, "/healthz") == 0) {
		if (is_broken)
			respond(fd, 503, "Service Unavailable", "broken\n");
		else if (ms_since_start() < ready_delay_ms)
			respond(fd, 503, "Service Unavailable", "starting\n");
		else
			respond(fd, 200, "OK", "ok\n");
	} else if (strcmp(path, "/version") == 0) {
		snprintf(body, sizeof body, "%s\n", v);
		respond(fd, 200, "OK", body);
	} else if (strcmp(path, "/sleep") == 0) {
		long ms = 1000;
		if (query && strncmp(query, "ms=", 3) == 0)
			ms = strtol(query + 3, NULL, 10);
		if (ms < 0 || ms > 30000)
			ms = 30000;
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		snprintf(body, sizeof body, "slept %ld ms, Version %s\n", ms, v);
		respond(fd, 200, "OK", body);
	} else {
		respond(fd, 404, "Not Found", "not found\n");
	}
}

static void conn_done(void)
{
	pthread_mutex_lock(&conn_lock);
	active_conns--;
	pthread_cond_broadcast(&conn_cond);
	pthread_mutex_unlock(&conn_lock);
}

static void *conn_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	handle(fd);
	/* Half-close first so the client reads the whole answer before our FIN. */
	shutdown(fd, SHUT_WR);
	close(fd);
	conn_done();
	return NULL;
}

static void serve_conn(int fd)
{
	struct timeval tv = {IO_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	pthread_mutex_lock(&conn_lock);
	bool full = active_conns >= MAX_CONNS;
	if (!full)
		active_conns++;
	pthread_mutex_unlock(&conn_lock);
	if (full) {
		respond(fd, 503, "Service Unavailable", "too many connections\n");
		close(fd);
		return;
	}
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&t, &attr, conn_thread, (void *)(intptr_t)fd) != 0) {
		respond(fd, 503, "Service Unavailable", "no thread\n");
		close(fd);
		conn_done();
	}
	pthread_attr_destroy(&attr);
}

static int listen_on(const char *addr, long port, bool reuseport)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		logmsg("BIND_ADDR %s: not an IPv4 address", addr);
		exit(2);
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		logmsg("socket: %s", strerror(errno));
		exit(1);
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
		logmsg("SO_REUSEPORT: %s", strerror(errno));
		exit(1);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0) {
		logmsg("listen %s:%ld: %s", addr, port, strerror(errno));
		exit(1);
	}
	logmsg("listening on %s:%ld%s", addr, port, reuseport ? " (SO_REUSEPORT)" : "");
	return fd;
}

/* Accepts what is queued on a non-blocking listener, at most max connections so a flood
 * cannot keep the loop from reading signals (or the final drain from ending). */
static void accept_some(int lfd, int max)
{
	for (int i = 0; i < max; i++) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				logmsg("accept: %s", strerror(errno));
			return;
		}
		/* accept4 does not inherit O_NONBLOCK on Linux; the worker blocks with timeouts. */
		serve_conn(c);
	}
}

int main(void)
{
	clock_gettime(CLOCK_MONOTONIC, &started);
	long port = env_long("PORT", 8080, 1, 65535);
	long hport = env_long("HEALTH_PORT", 0, 0, 65535);
	long drain_ms = env_long("DRAIN_TIMEOUT_MS", 25000, 0, 3600000);
	ready_delay_ms = env_long("READY_DELAY_MS", 0, 0, 3600000);
	const char *addr = env_or("BIND_ADDR", "127.0.0.1");
	snprintf(replica, sizeof replica, "%s", env_or("REPLICA_ID", ""));
	if (!replica[0])
		snprintf(replica, sizeof replica, "pid-%ld", (long)getpid());
	for (char *p = replica; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = '_';

	/* Signals arrive on a signalfd; blocked before any thread exists so none takes them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		logmsg("signalfd: %s", strerror(errno));
		return 1;
	}
	load_config();

	struct pollfd pfd[3] = {
	    {.fd = sfd, .events = POLLIN},
	    {.fd = listen_on(addr, port, true), .events = POLLIN},
	    {.fd = hport ? listen_on(addr, hport, false) : -1, .events = POLLIN},
	};
	for (;;) {
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			logmsg("poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si) {
				if (si.ssi_signo == SIGHUP) {
					load_config();
				} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					break;
				}
			}
		}
		for (int i = 1; i < 3; i++)
			if (pfd[i].fd >= 0 && (pfd[i].revents & POLLIN))
				accept_some(pfd[i].fd, 64);
	}

	/* Graceful stop: take what the kernel already queued, then stop listening. */
	for (int i = 1; i < 3; i++) {
		if (pfd[i].fd < 0)
			continue;
		accept_some(pfd[i].fd, 4096);
		close(pfd[i].fd);
	}
	logmsg("SIGTERM: listeners closed, draining in-flight requests");
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += drain_ms / 1000;
	deadline.tv_nsec += (drain_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&conn_lock);
	while (active_conns > 0) {
		if (pthread_cond_timedwait(&conn_cond, &conn_lock, &deadline) == ETIMEDOUT)
			break;
	}
	int left = active_conns;
	pthread_mutex_unlock(&conn_lock);
	if (left)
		logmsg("drain timeout: %d requests still in flight", left);
	else
		logmsg("drained, exiting");
	return 0;
}
