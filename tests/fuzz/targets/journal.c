/* Fuzz target: the patch journal reader (torn tails, corrupt lines, bounds)
 * and the `patch log` renderings of what it accepts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "compare/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_journal_log log;
	kc_err_t err = NULL;
	if (kc_journal_parse((const char *)data, size, &log, &err) < 0) {
		kc_err_free(&err);
		return 0;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f) {
		if (kc_journal_print_table(&log, f, &err) < 0)
			kc_err_free(&err);
		fclose(f);
		free(buf);
	}
	char *json = NULL;
	if (kc_journal_log_json("fuzz", &log, false, &json, &len, &err) < 0)
		kc_err_free(&err);
	free(json);
	/* Every accepted entry must serialise back to a line. */
	for (size_t i = 0; i < log.n; i++) {
		char *line = NULL;
		if (kc_journal_entry_line(&log.entries[i], &line, &len, &err) < 0)
			kc_err_free(&err);
		free(line);
	}
	kc_journal_log_free(&log);
	return 0;
}
