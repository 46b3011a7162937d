/* Regenerates a report from a recorded report.json: prints the text table and
 * writes OUT_DIR/report.json and OUT_DIR/report.html.
 * Usage: report-render REPORT_JSON OUT_DIR */
#include <stdio.h>

#include "compare/report.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s REPORT_JSON OUT_DIR\n", argv[0]);
		return 2;
	}
	struct kc_report *r = NULL;
	kc_err_t err = NULL;
	if (kc_report_load(argv[1], &r, &err) < 0 || kc_report_write_text(r, stdout, &err) < 0 ||
	    kc_report_save(r, argv[2], &err) < 0) {
		kc_err_print(err, "report-render", stderr);
		kc_err_free(&err);
		kc_report_free(r);
		return 1;
	}
	kc_report_free(r);
	return 0;
}
