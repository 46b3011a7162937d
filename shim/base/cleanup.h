/* Scope-bound cleanup, as crun does it: a variable declared with one of these
 * is released when it goes out of scope. Files that use these do not also
 * use goto-cleanup. */
#ifndef KC_BASE_CLEANUP_H
#define KC_BASE_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void kc_freep(void *p)
{
	free(*(void **)p);
}
static inline void kc_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void kc_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
/* Frees a NULL-terminated list of strings and the list itself. */
static inline void kc_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}
static inline void kc_strvfreep(char ***v)
{
	kc_strv_free(*v);
}

#define cleanup_free __attribute__((cleanup(kc_freep)))
#define cleanup_close __attribute__((cleanup(kc_closep)))
#define cleanup_fclose __attribute__((cleanup(kc_fclosep)))
#define cleanup_strv __attribute__((cleanup(kc_strvfreep)))
/* Declared next to the type they free: cleanup_json (json.h),
 * cleanup_err (below), cleanup_http_resp (http.h). */
#include "error.h"
static inline void kc_err_freep(kc_err_t *e)
{
	kc_err_free(e);
}
#define cleanup_err __attribute__((cleanup(kc_err_freep)))

/* Hands ownership out of a cleanup variable. */
#define kc_steal(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _kc_tmp = (p);                                                       \
		(p) = NULL;                                                                        \
		_kc_tmp;                                                                           \
	})
#define kc_steal_fd(fd)                                                                            \
	({                                                                                         \
		int _kc_tmp = (fd);                                                                \
		(fd) = -1;                                                                         \
		_kc_tmp;                                                                           \
	})

#endif
