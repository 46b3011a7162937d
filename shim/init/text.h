/* kctl-shim text helpers: file names are bytes, JSON strings are UTF-8. */
#ifndef KC_INIT_TEXT_H
#define KC_INIT_TEXT_H

#include <stddef.h>

/* Copies s into a new string with every byte that is not part of valid UTF-8
 * written as the text "\xNN", so any path can go into a JSON string and the
 * original bytes can still be told apart. NULL on allocation failure. */
char *kc_utf8_sanitize(const char *s);

#endif
