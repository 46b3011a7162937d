/* kc_kube_quantity: the Kubernetes quantities metrics.k8s.io answers with (CPU in
 * nanocores, memory in Ki) and the other suffixes a metrics server may use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compare/compare_kube.h"

static void near(const char *q, double want)
{
	double v = -1;
	if (kc_kube_quantity(q, &v) != 0)
		fail_msg("%s does not parse", q);
	double d = v - want;
	if (d < 0)
		d = -d;
	if (d > 1e-9 * (want > 1 ? want : 1))
		fail_msg("%s = %.12g, want %.12g", q, v, want);
}

static void quantities(void **state)
{
	(void)state;
	near("123456n", 123456e-9);
	near("250m", 0.25);
	near("2", 2);
	near("0.5", 0.5);
	near("15u", 15e-6);
	near("1234Ki", 1234.0 * 1024);
	near("64Mi", 64.0 * 1024 * 1024);
	near("1.5Gi", 1.5 * 1024 * 1024 * 1024);
	near("1k", 1000);
	near("3M", 3e6);
	near("2e3", 2000);
	near("1E", 1e18); /* exa, not an exponent */
	near("0", 0);
}

static void not_quantities(void **state)
{
	(void)state;
	double v;
	const char *bad[] = {"", "Ki", "12Kb", "1.2.3x", "abc", "12 Mi", "1e", "1e3Ki", NULL};
	for (size_t i = 0; bad[i]; i++)
		if (kc_kube_quantity(bad[i], &v) == 0)
			fail_msg("\"%s\" parsed as %g", bad[i], v);
	assert_int_equal(kc_kube_quantity(NULL, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(quantities),
					   cmocka_unit_test(not_quantities)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
