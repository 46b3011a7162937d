/* Go-style duration strings to milliseconds and back. */
#include "duration.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit {
	const char *name;
	int64_t ms;
};

/* "ms" before "m" so the longer unit wins. */
static const struct unit units[] = {{"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};

int kc_duration_parse(const char *s, int64_t *ms, kc_err_t *err)
{
	if (!s || !*s)
		return kc_err_new(err, KC_E_INVALID, "empty duration");
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	const char *p = s;
	/* Work in microseconds so "1.5ms" style fractions add up before rounding. */
	int64_t total_us = 0;
	while (*p) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			return kc_err_new(err, KC_E_INVALID,
					  "duration \"%s\": expected a number at \"%s\"", s, p);
		int64_t whole = 0, frac = 0, scale = 1;
		bool digits = false;
		while (isdigit((unsigned char)*p)) {
			whole = whole * 10 + (*p++ - '0');
			digits = true;
			if (whole > KC_DURATION_MAX_MS)
				return kc_err_new(err, KC_E_INVALID, "duration \"%s\" is too long",
						  s);
		}
		if (*p == '.') {
			p++;
			while (isdigit((unsigned char)*p)) {
				if (scale < 1000000) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
				p++;
				digits = true;
			}
		}
		if (!digits)
			return kc_err_new(err, KC_E_INVALID, "duration \"%s\": bad number", s);
		const struct unit *u = NULL;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t n = strlen(units[i].name);
			if (strncmp(p, units[i].name, n) == 0) {
				u = &units[i];
				p += n;
				break;
			}
		}
		if (!u)
			return kc_err_new(
			    err, KC_E_INVALID,
			    "duration \"%s\": missing or unknown unit (use h, m, s, ms)", s);
		int64_t us = whole * u->ms * 1000 + frac * u->ms * 1000 / scale;
		total_us += us;
		if (total_us / 1000 > KC_DURATION_MAX_MS)
			return kc_err_new(err, KC_E_INVALID, "duration \"%s\" is too long", s);
	}
	*ms = (total_us + 500) / 1000;
	return 0;
}

char *kc_duration_format(int64_t ms, char *buf, size_t size)
{
	if (ms <= 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	if (ms < 1000) {
		snprintf(buf, size, "%lldms", (long long)ms);
		return buf;
	}
	int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
	size_t n = 0;
	buf[0] = '\0';
	if (h)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%lldh", (long long)h);
	if (h || m)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%lldm", (long long)m);
	if (rest) {
		char frac[8];
		snprintf(frac, sizeof frac, "%03lld", (long long)rest);
		for (int i = 2; i > 0 && frac[i] == '0'; i--)
			frac[i] = '\0';
		snprintf(buf + n, n < size ? size - n : 0, "%lld.%ss", (long long)s, frac);
	} else if (s || !(h || m)) {
		snprintf(buf + n, n < size ? size - n : 0, "%llds", (long long)s);
	}
	return buf;
}
