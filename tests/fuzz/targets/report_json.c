/* Fuzz target: the report.json reader, and every writer on what it accepts
 * (text table, report.json, report.html). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "compare/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_report *r = NULL;
	kc_err_t err = NULL;
	if (kc_report_from_json((const char *)data, size, &r, &err) < 0) {
		kc_err_free(&err);
		return 0;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f) {
		if (kc_report_write_html(r, f, &err) < 0 || kc_report_write_text(r, f, &err) < 0)
			kc_err_free(&err);
		fclose(f);
		free(buf);
	}
	char *json = NULL;
	if (kc_report_to_json(r, false, &json, &len, &err) < 0)
		kc_err_free(&err);
	/* What the writer emits, the reader must take back. */
	struct kc_report *again = NULL;
	if (json && kc_report_from_json(json, len, &again, &err) < 0)
		abort();
	kc_report_free(again);
	free(json);
	kc_report_free(r);
	return 0;
}
