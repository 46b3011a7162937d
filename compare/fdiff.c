/* The difference between two image file indexes (pure; unit tested), and the
 * file index of an image pinned by digest. Shared by patch and drift. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compare/patch.h"
#include "registry/registry.h"
#include "shim/base/cleanup.h"

/* Hardlinks carry their target's content: compare them as regular files. */
static char kind_of(const struct kc_file_entry *f)
{
	return f->type == KC_FILE_HARDLINK ? KC_FILE_REG : (char)f->type;
}

static bool under(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	return dir[0] && strncmp(path, dir, l) == 0 && path[l] == '/';
}

int kc_fdiff_compute(const struct kc_file_index *from, const struct kc_file_index *to,
		     struct kc_fdiff **out, size_t *n, kc_err_t *err)
{
	size_t nf = from ? from->n : 0, nt = to ? to->n : 0, i = 0, j = 0, k = 0;
	struct kc_fdiff *d = calloc(nf + nt + 1, sizeof *d);
	if (!d)
		return kc_err_sys(err, ENOMEM, "file difference");
	/* Top of the last deleted or retyped tree: what lies under it goes with it. */
	const char *dead = "";
	while (i < nf || j < nt) {
		const struct kc_file_entry *a = i < nf ? &from->entries[i] : NULL;
		const struct kc_file_entry *b = j < nt ? &to->entries[j] : NULL;
		int c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);
		if (c < 0) {
			i++;
			if (under(a->path, dead))
				continue;
			d[k++] =
			    (struct kc_fdiff){.from = a, .path = a->path, .kind = KC_FDIFF_DELETE};
			dead = a->path;
			continue;
		}
		if (c > 0) {
			j++;
			d[k++] = (struct kc_fdiff){.to = b, .path = b->path, .kind = KC_FDIFF_ADD};
			continue;
		}
		i++;
		j++;
		if (kind_of(a) != kind_of(b)) {
			d[k++] = (struct kc_fdiff){
			    .from = a, .to = b, .path = b->path, .kind = KC_FDIFF_RETYPE};
			if (a->type == KC_FILE_DIR)
				dead = a->path;
			continue;
		}
		bool content = false;
		if (kind_of(a) == KC_FILE_REG)
			content = strcmp(a->sha256, b->sha256) != 0;
		else if (a->type == KC_FILE_SYMLINK)
			content = strcmp(a->link ? a->link : "", b->link ? b->link : "") != 0;
		else if (a->type == KC_FILE_CHAR || a->type == KC_FILE_BLOCK)
			content = a->size != b->size; /* device numbers are not indexed */
		bool meta = a->uid != b->uid || a->gid != b->gid ||
			    (a->type != KC_FILE_SYMLINK && a->mode != b->mode);
		if (content || meta)
			d[k++] = (struct kc_fdiff){.from = a,
						   .to = b,
						   .path = b->path,
						   .kind = KC_FDIFF_CHANGE,
						   .content = content};
	}
	*out = d;
	*n = k;
	return 0;
}

int kc_patch_image_index(struct kc_registry *r, const char *image, const char *digest,
			 struct kc_image_info *info_out, struct kc_file_index **out, kc_err_t *err)
{
	struct kc_ref ref;
	if (kc_ref_parse(image, &ref, err) < 0)
		return kc_err_wrap(err, "image %s", image);
	if (digest && *digest) {
		if (!kc_ref_digest_valid(digest))
			return kc_err_new(err, KC_E_INVALID, "image %s: bad digest \"%s\"", image,
					  digest);
		snprintf(ref.digest, sizeof ref.digest, "%s", digest);
	}
	struct kc_image_info info;
	memset(&info, 0, sizeof info);
	if (kc_registry_resolve(r, &ref, &info, err) < 0)
		return kc_err_wrap(err, "resolving %s", image);
	int rc = kc_registry_file_index(r, &info, 0, out, err);
	if (rc < 0)
		kc_err_wrap(err, "file index of %s", image);
	if (rc == 0 && info_out)
		*info_out = info;
	else
		kc_image_info_free(&info);
	return rc;
}
