/* Crash test of the patch journal: journal-crash-helper processes (two at a
 * time, sharing one journal) are killed with SIGKILL at random points, 60
 * rounds. After every kill the journal must read back with every line parsed,
 * and every step a helper acknowledged (printed to its pipe after the append
 * returned) must be in it exactly once. Some rounds start from a deliberately
 * torn tail, which the next writer must repair.
 * Usage: test-compare-journal-crash HELPER   (seed: $KCTL_CRASH_SEED) */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compare/journal.h"

#define ROUNDS 60
#define HELPERS 2

struct helper {
	pid_t pid;
	int fd;
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int die(const char *dir, const char *fmt, const char *a, long b)
{
	fprintf(stderr, "FAIL: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	fprintf(stderr, "journal kept in %s\n", dir);
	return 1;
}

static int start(const char *helper, const char *dir, long first, const char *patch,
		 struct helper *h)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		char firsts[32];
		snprintf(firsts, sizeof firsts, "%ld", first);
		execl(helper, helper, dir, "crash", firsts, patch, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	h->pid = pid;
	h->fd = p[0];
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s HELPER\n", argv[0]);
		return 2;
	}
	const char *seed_env = getenv("KCTL_CRASH_SEED");
	unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10)
				 : (unsigned)time(NULL) ^ (unsigned)getpid();
	srand(seed);
	const char *base = getenv("KCTL_BUILD_DIR");
	char dir[4096];
	/* On the build disk rather than tmpfs, so fsync means something. */
	snprintf(dir, sizeof dir, "%s/kctl-journal-crash-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	printf("seed %u, journal in %s\n", seed, dir);

	long *acked = NULL;
	size_t nacked = 0, cap = 0;
	int torn_seen = 0, injected = 0, torn_natural = 0;
	for (int round = 0; round < ROUNDS; round++) {
		if (round % 3 == 2) {
			/* A torn tail as a killed multi-page write leaves it. */
			char path[4200];
			snprintf(path, sizeof path, "%s/journal/crash.jsonl", dir);
			int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
			const char torn[] =
			    "{\"v\":1,\"time\":\"2026-11-27T03:00:00.000Z\",\"app\":\"cr";
			if (fd < 0 || write(fd, torn, sizeof torn - 1) != sizeof torn - 1)
				return die(dir, "injecting torn tail %s%ld", "", 0);
			close(fd);
			injected++;
		}
		struct helper hs[HELPERS];
		for (int i = 0; i < HELPERS; i++) {
			char patch[64];
			snprintf(patch, sizeof patch, "p-crash-%d-%d", round, i);
			long first = (long)round * 1000000 + (long)i * 500000 + 1;
			if (start(argv[1], dir, first, patch, &hs[i]) < 0)
				return die(dir, "starting helper %s%ld", "", round);
		}
		/* Even rounds: kill after each helper's first acknowledged step (so slow
		 * builds, e.g. with sanitizers, still reach the append loop); odd
		 * rounds: at any point from exec on, startup and file creation included. */
		for (int i = 0; round % 2 == 0 && i < HELPERS; i++) {
			char line[32];
			size_t k = 0;
			while (k < sizeof line - 1 && read(hs[i].fd, &line[k], 1) == 1 &&
			       line[k] != '\n')
				k++;
			line[k] = '\0';
			if (k == 0)
				return die(dir, "helper acknowledged nothing%s (round %ld)", "",
					   round);
			if (nacked == cap) {
				cap = cap ? cap * 2 : 1024;
				acked = realloc(acked, cap * sizeof *acked);
				if (!acked)
					return 1;
			}
			acked[nacked++] = strtol(line, NULL, 10);
		}
		for (int i = 0; i < HELPERS; i++) {
			struct timespec ts = {0, (long)(rand() % 25000) * 1000};
			nanosleep(&ts, NULL);
			kill(hs[i].pid, SIGKILL);
		}
		for (int i = 0; i < HELPERS; i++) {
			int status;
			if (waitpid(hs[i].pid, &status, 0) < 0)
				return die(dir, "waitpid %s%ld", "", round);
			if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
				return die(dir, "helper exited on its own (%s status %ld)", "",
					   (long)status);
			FILE *f = fdopen(hs[i].fd, "r");
			char line[64];
			while (fgets(line, sizeof line, f)) {
				if (!strchr(line, '\n'))
					break; /* pipe writes are atomic; cannot happen */
				if (nacked == cap) {
					cap = cap ? cap * 2 : 1024;
					acked = realloc(acked, cap * sizeof *acked);
					if (!acked)
						return 1;
				}
				acked[nacked++] = strtol(line, NULL, 10);
			}
			fclose(f);
		}

		struct kc_journal_log log;
		kc_err_t err = NULL;
		if (kc_journal_read(dir, "crash", &log, &err) < 0) {
			kc_err_print(err, "journal read", stderr);
			return die(dir, "journal unreadable after round %s%ld", "", round);
		}
		if (log.torn_line)
			torn_seen++;
		/* A torn tail no injection explains: a kill landed inside a write(). */
		if (log.torn_line && round % 3 != 2)
			torn_natural++;
		long *present = malloc((log.n + 1) * sizeof *present);
		for (size_t i = 0; i < log.n; i++) {
			const struct kc_journal_entry *e = &log.entries[i];
			if (sscanf(e->detail, "step %ld ", &present[i]) != 1)
				return die(dir, "line without a step: %s%ld", e->detail, (long)i);
			long r = present[i] / 1000000, h = (present[i] % 1000000) / 500000;
			char want[64];
			snprintf(want, sizeof want, "p-crash-%ld-%ld", r, h);
			if (strcmp(e->patch_id, want) != 0)
				return die(dir, "step misattributed to %s (step %ld)", e->patch_id,
					   present[i]);
		}
		qsort(present, log.n, sizeof *present, cmp_long);
		for (size_t i = 1; i < log.n; i++)
			if (present[i] == present[i - 1])
				return die(dir, "step recorded twice%s: %ld", "", present[i]);
		for (size_t i = 0; i < nacked; i++)
			if (!bsearch(&acked[i], present, log.n, sizeof *present, cmp_long))
				return die(dir, "acknowledged step lost%s: %ld", "", acked[i]);
		if (round == ROUNDS - 1 || round % 10 == 0)
			printf("round %d: %zu lines, %zu acknowledged, torn tail %s\n", round,
			       log.n, nacked, log.torn_line ? "ignored" : "none");
		free(present);
		kc_journal_log_free(&log);
	}
	if (nacked < ROUNDS) {
		fprintf(stderr, "FAIL: only %zu steps acknowledged in %d rounds\n", nacked, ROUNDS);
		return 1;
	}
	printf("ok: %d kills x %d helpers, %zu acknowledged steps all present, %d torn tails "
	       "injected, %d seen after a kill (%d from a kill inside write())\n",
	       ROUNDS, HELPERS, nacked, injected, torn_seen, torn_natural);
	free(acked);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
