/* Fuzz target: WWW-Authenticate challenge parser and docker config.json
 * credential decoding (the two text formats the registry auth reads). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct kc_auth_challenge c[KC_AUTH_MAX_CHALLENGES];
	kc_err_t err = NULL;
	int n = kc_auth_parse(s, c, KC_AUTH_MAX_CHALLENGES, &err);
	if (n > KC_AUTH_MAX_CHALLENGES)
		__builtin_trap();
	for (int i = 0; i < n; i++) {
		if (c[i].realm && strlen(c[i].realm) > size)
			__builtin_trap();
		kc_auth_challenge_free(&c[i]);
	}
	kc_err_free(&err);
	char *user = NULL, *pw = NULL;
	if (kc_docker_config_auth(s, size, "127.0.0.1:5000", &user, &pw, &err) == 1 &&
	    (!user || !pw))
		__builtin_trap();
	free(user);
	free(pw);
	kc_err_free(&err);
	free(s);
	return 0;
}
