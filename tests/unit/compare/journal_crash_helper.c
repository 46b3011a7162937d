/* Appends patch steps to a journal forever; after each append returns it
 * writes the step number to stdout (a pipe), so every number the reader sees
 * is an acknowledged step. Killed with SIGKILL by test_journal_crash.
 * Usage: journal-crash-helper STATE_DIR APP FIRST_STEP PATCH_ID */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare/journal.h"

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	long step = strtol(argv[3], NULL, 10);
	struct kc_journal *j = NULL;
	kc_err_t err = NULL;
	if (kc_journal_open(argv[1], argv[2], &j, &err) < 0) {
		kc_err_print(err, "journal-crash-helper", stderr);
		return 1;
	}
	/* Lines of varying size, some spanning several pages, so a kill can land
	 * inside a multi-page write(). */
	static char pad[KC_JOURNAL_MAX_FIELD + 1];
	memset(pad, 'p', sizeof pad - 1);
	for (;; step++) {
		char detail[64];
		snprintf(detail, sizeof detail, "step %ld ", step);
		size_t padlen =
		    step % 5 ? (size_t)step % 200 : (size_t)(step * 1237) % KC_JOURNAL_MAX_FIELD;
		char *d = malloc(strlen(detail) + padlen + 1);
		if (!d)
			return 1;
		strcpy(d, detail);
		memcpy(d + strlen(detail), pad, padlen);
		d[strlen(detail) + padlen] = '\0';
		char rid[32];
		snprintf(rid, sizeof rid, "replica-%ld", step % 3);
		struct kc_journal_entry e = {
		    .app = argv[2],
		    .replica_id = rid,
		    .replica_name = rid,
		    .patch_id = argv[4],
		    .op = KC_JOP_EXEC,
		    .detail = d,
		    .outcome = step % 7 ? KC_JOUT_OK : KC_JOUT_FAILED,
		    .error = step % 7 ? NULL : (step % 2 ? pad : "exit status 1"),
		    .duration_ms = step % 100,
		};
		if (kc_journal_append(j, &e, &err) < 0) {
			kc_err_print(err, "journal-crash-helper", stderr);
			return 1;
		}
		free(d);
		char ack[32];
		int n = snprintf(ack, sizeof ack, "%ld\n", step);
		if (write(STDOUT_FILENO, ack, (size_t)n) != n)
			return 1;
	}
}
