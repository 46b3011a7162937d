/* Manifest/index parsing, platform selection, WWW-Authenticate and docker
 * config.json: see manifest.h. */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"

bool kc_media_type_is_index(const char *mt)
{
	return mt && (!strcmp(mt, KC_MT_OCI_INDEX) || !strcmp(mt, KC_MT_DOCKER_LIST));
}

static void descriptor_free(struct kc_descriptor *d)
{
	free(d->media_type);
	d->media_type = NULL;
}

void kc_manifest_free(struct kc_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	descriptor_free(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_free(&m->layers[i]);
	free(m->layers);
	for (size_t i = 0; i < m->n_manifests; i++)
		descriptor_free(&m->manifests[i]);
	free(m->manifests);
	memset(m, 0, sizeof *m);
}

static int copy_small(char *dst, size_t cap, const char *src, const char *what, kc_err_t *err)
{
	if (strlen(src) >= cap)
		return kc_err_new(err, KC_E_PROTO, "manifest: %s too long", what);
	strcpy(dst, src);
	return 0;
}

static int parse_descriptor(yajl_val v, const char *where, bool want_platform,
			    struct kc_descriptor *d, kc_err_t *err)
{
	const char *digest = NULL, *mt = NULL;
	int64_t size = 0;
	if (!YAJL_IS_OBJECT(v))
		return kc_err_new(err, KC_E_PROTO, "manifest: %s is not an object", where);
	if (kc_json_get_str(v, "/digest", &digest, err) < 0 ||
	    kc_json_get_int(v, "/size", &size, err) < 0 ||
	    kc_json_opt_str(v, "/mediaType", &mt, err) < 0)
		return kc_err_wrap(err, "manifest: %s", where);
	if (size < 0)
		return kc_err_new(err, KC_E_PROTO, "manifest: %s: negative size", where);
	if (!kc_digest_valid(digest)) {
		if (strncmp(digest, "sha256:", 7) != 0 && strchr(digest, ':'))
			return kc_err_new(
			    err, KC_E_UNSUPPORTED,
			    "manifest: %s: digest algorithm of \"%.80s\" not supported "
			    "(sha256 only)",
			    where, digest);
		return kc_err_new(err, KC_E_PROTO, "manifest: %s: invalid digest \"%.80s\"", where,
				  digest);
	}
	strcpy(d->digest, digest);
	d->size = size;
	d->media_type = strdup(mt ? mt : "");
	if (!d->media_type)
		return kc_err_sys(err, ENOMEM, "manifest");
	if (want_platform) {
		const char *os = "", *arch = "", *variant = "";
		if (kc_json_opt_str(v, "/platform/os", &os, err) < 0 ||
		    kc_json_opt_str(v, "/platform/architecture", &arch, err) < 0 ||
		    kc_json_opt_str(v, "/platform/variant", &variant, err) < 0)
			return kc_err_wrap(err, "manifest: %s", where);
		if (copy_small(d->os, sizeof d->os, os, "platform os", err) < 0 ||
		    copy_small(d->arch, sizeof d->arch, arch, "platform architecture", err) < 0 ||
		    copy_small(d->variant, sizeof d->variant, variant, "platform variant", err) < 0)
			return -1;
	}
	return 0;
}

static int parse_list(yajl_val root, const char *key, bool want_platform,
		      struct kc_descriptor **out, size_t *n, kc_err_t *err)
{
	yajl_val arr;
	char path[32];
	snprintf(path, sizeof path, "/%s", key);
	if (kc_json_get_arr(root, path, &arr, err) < 0)
		return kc_err_wrap(err, "manifest");
	size_t len = arr->u.array.len;
	if (len > KC_MANIFEST_MAX_ENTRIES)
		return kc_err_new(err, KC_E_TOOBIG, "manifest: more than %d %s",
				  KC_MANIFEST_MAX_ENTRIES, key);
	*out = calloc(len ? len : 1, sizeof **out);
	if (!*out)
		return kc_err_sys(err, ENOMEM, "manifest");
	for (size_t i = 0; i < len; i++) {
		char where[48];
		snprintf(where, sizeof where, "%s[%zu]", key, i);
		/* Count first so a failure part-way frees what was filled. */
		*n = i + 1;
		if (parse_descriptor(arr->u.array.values[i], where, want_platform, &(*out)[i],
				     err) < 0)
			return -1;
	}
	*n = len;
	return 0;
}

/* "type/subtype; charset=..." -> "type/subtype" in buf. */
static void bare_media_type(const char *ct, char *buf, size_t cap)
{
	size_t n = strcspn(ct, "; \t");
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, ct, n);
	buf[n] = '\0';
}

int kc_manifest_parse(const char *body, size_t len, const char *content_type,
		      struct kc_manifest *out, kc_err_t *err)
{
	cleanup_json yajl_val root = NULL;
	memset(out, 0, sizeof *out);
	if (len > KC_MANIFEST_MAX_BYTES)
		return kc_err_new(err, KC_E_TOOBIG, "manifest larger than %u bytes",
				  KC_MANIFEST_MAX_BYTES);
	if (kc_json_parse(body, len, &root, err) < 0)
		return kc_err_wrap(err, "manifest");
	if (!YAJL_IS_OBJECT(root))
		return kc_err_new(err, KC_E_PROTO, "manifest: not a JSON object");
	int64_t schema = 2;
	const char *doc_mt = NULL;
	if (kc_json_opt_int(root, "/schemaVersion", &schema, err) < 0 ||
	    kc_json_opt_str(root, "/mediaType", &doc_mt, err) < 0)
		return kc_err_wrap(err, "manifest");
	char mt[128] = "";
	if (content_type && *content_type)
		bare_media_type(content_type, mt, sizeof mt);
	/* Registries answer application/json or octet-stream for documents they
	 * do not recognise; the document's own field is better then. */
	if ((!mt[0] || !strcmp(mt, "application/json") ||
	     !strcmp(mt, "application/octet-stream")) &&
	    doc_mt)
		bare_media_type(doc_mt, mt, sizeof mt);
	if (schema == 1 || !strncmp(mt, "application/vnd.docker.distribution.manifest.v1+", 48))
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "manifest: Docker schema 1 manifests are not supported");
	if (schema != 2)
		return kc_err_new(err, KC_E_PROTO, "manifest: schemaVersion %lld, want 2",
				  (long long)schema);
	bool index;
	if (kc_media_type_is_index(mt))
		index = true;
	else if (!strcmp(mt, KC_MT_OCI_MANIFEST) || !strcmp(mt, KC_MT_DOCKER_MANIFEST))
		index = false;
	else if (!mt[0] || !strcmp(mt, "application/json") ||
		 !strcmp(mt, "application/octet-stream"))
		index = kc_json_find(root, "/manifests") != NULL; /* OCI allows no mediaType */
	else
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "manifest: media type \"%.100s\" not supported", mt);
	if (!mt[0] || !strcmp(mt, "application/json") || !strcmp(mt, "application/octet-stream"))
		strcpy(mt, index ? KC_MT_OCI_INDEX : KC_MT_OCI_MANIFEST);
	out->media_type = strdup(mt);
	if (!out->media_type)
		return kc_err_sys(err, ENOMEM, "manifest");
	int rc;
	if (index) {
		out->kind = KC_MANIFEST_INDEX;
		rc = parse_list(root, "manifests", true, &out->manifests, &out->n_manifests, err);
	} else {
		out->kind = KC_MANIFEST_IMAGE;
		yajl_val cfg;
		rc = kc_json_get_obj(root, "/config", &cfg, err);
		if (rc < 0)
			kc_err_wrap(err, "manifest");
		if (rc == 0)
			rc = parse_descriptor(cfg, "config", false, &out->config, err);
		if (rc == 0)
			rc = parse_list(root, "layers", false, &out->layers, &out->n_layers, err);
	}
	if (rc < 0) {
		kc_manifest_free(out);
		return -1;
	}
	return 0;
}

int kc_index_select(const struct kc_manifest *idx, const char *os, const char *arch,
		    const char *variant, size_t *out, kc_err_t *err)
{
	long best = -1;
	int best_rank = 0;
	if (idx->kind != KC_MANIFEST_INDEX)
		return kc_err_new(err, KC_E_INVALID, "not an image index");
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct kc_descriptor *d = &idx->manifests[i];
		/* Attestation manifests sit in indexes as unknown/unknown. */
		if (strcmp(d->os, os) != 0 || strcmp(d->arch, arch) != 0 ||
		    !strcmp(d->os, "unknown"))
			continue;
		/* Only image manifests (or entries of unknown type) are runnable. */
		if (d->media_type[0] && strcmp(d->media_type, KC_MT_OCI_MANIFEST) != 0 &&
		    strcmp(d->media_type, KC_MT_DOCKER_MANIFEST) != 0)
			continue;
		int rank;
		if (variant)
			rank = !strcmp(d->variant, variant) ? 3 : 0;
		else if (!d->variant[0])
			rank = 3;
		else if (!strcmp(arch, "amd64") && !strcmp(d->variant, "v1"))
			rank = 2;
		else
			rank = 1;
		if (rank > best_rank) {
			best_rank = rank;
			best = (long)i;
		}
	}
	if (best >= 0) {
		*out = (size_t)best;
		return 0;
	}
	char have[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < idx->n_manifests && used + 80 < sizeof have; i++) {
		const struct kc_descriptor *d = &idx->manifests[i];
		int n = snprintf(have + used, sizeof have - used, "%s%s/%s%s%s", used ? ", " : "",
				 d->os[0] ? d->os : "?", d->arch[0] ? d->arch : "?",
				 d->variant[0] ? "/" : "", d->variant);
		if (n > 0)
			used += (size_t)n;
	}
	return kc_err_new(err, KC_E_NOTFOUND,
			  "no manifest for platform %s/%s%s%s in index (has: %s)", os, arch,
			  variant ? "/" : "", variant ? variant : "", used ? have : "nothing");
}

/* ---- WWW-Authenticate ---------------------------------------------------- */

#define AUTH_VALUE_MAX 4096

void kc_auth_challenge_free(struct kc_auth_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof *c);
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Reads a token at p; returns its length (0 if none). */
static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar(p[n]))
		n++;
	return n;
}

/* Reads a quoted-string or a (lenient) bare value at *pp into a new string. */
static int read_value(const char **pp, char **out, kc_err_t *err)
{
	const char *p = *pp;
	char buf[AUTH_VALUE_MAX + 1];
	size_t n = 0;
	if (*p == '"') {
		p++;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			if (n >= AUTH_VALUE_MAX)
				return kc_err_new(err, KC_E_PROTO,
						  "WWW-Authenticate: parameter value too long");
			buf[n++] = *p++;
		}
		if (*p != '"')
			return kc_err_new(err, KC_E_PROTO, "WWW-Authenticate: unterminated quote");
		p++;
	} else {
		/* Servers put URLs unquoted now and then; take up to , or space. */
		while (*p && *p != ',' && *p != ' ' && *p != '\t') {
			if (n >= AUTH_VALUE_MAX)
				return kc_err_new(err, KC_E_PROTO,
						  "WWW-Authenticate: parameter value too long");
			buf[n++] = *p++;
		}
	}
	buf[n] = '\0';
	*out = strdup(buf);
	if (!*out)
		return kc_err_sys(err, ENOMEM, "WWW-Authenticate");
	*pp = p;
	return 0;
}

static void set_param(struct kc_auth_challenge *c, const char *name, size_t nlen, char *value)
{
	char **slot = NULL;
	if (nlen == 5 && !strncasecmp(name, "realm", 5))
		slot = &c->realm;
	else if (nlen == 7 && !strncasecmp(name, "service", 7))
		slot = &c->service;
	else if (nlen == 5 && !strncasecmp(name, "scope", 5))
		slot = &c->scope;
	else if (nlen == 5 && !strncasecmp(name, "error", 5))
		slot = &c->error;
	if (!slot) {
		free(value);
		return;
	}
	free(*slot);
	*slot = value;
}

/* True when p starts "token BWS =" (a parameter, not a new challenge). */
static bool at_param(const char *p)
{
	size_t n = token_len(p);
	if (!n)
		return false;
	p = skip_ws(p + n);
	return *p == '=' && p[1] != '=';
}

/* Fills out[0..*count); on failure the caller frees what was filled. */
static int parse_challenges(const char *value, struct kc_auth_challenge *out, size_t max,
			    size_t *countp, kc_err_t *err)
{
	size_t count = 0;
	const char *p = value ? value : "";
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t n = token_len(p);
		if (!n) {
			return kc_err_new(err, KC_E_PROTO,
					  "WWW-Authenticate: expected an auth scheme at \"%.40s\"",
					  p);
		}
		if (count >= max) {
			return kc_err_new(err, KC_E_PROTO,
					  "WWW-Authenticate: more than %zu challenges", max);
		}
		struct kc_auth_challenge *c = &out[count++];
		memset(c, 0, sizeof *c);
		*countp = count;
		snprintf(c->scheme, sizeof c->scheme, "%.*s", (int)n, p);
		p = skip_ws(p + n);
		if (*p && *p != ',' && !at_param(p)) {
			/* token68 (e.g. "Negotiate abc=="): skip it. */
			while (*p && *p != ',')
				p++;
			continue;
		}
		while (at_param(p)) {
			const char *name = p;
			size_t nlen = token_len(p);
			p = skip_ws(skip_ws(p + nlen) + 1);
			char *v = NULL;
			if (read_value(&p, &v, err) < 0)
				return -1;
			set_param(c, name, nlen, v);
			p = skip_ws(p);
			if (*p == ',') {
				p = skip_ws(p + 1);
				while (*p == ',')
					p = skip_ws(p + 1);
			} else if (*p) {
				return kc_err_new(err, KC_E_PROTO,
						  "WWW-Authenticate: expected ',' at \"%.40s\"", p);
			}
		}
	}
	if (count == 0)
		return kc_err_new(err, KC_E_PROTO, "WWW-Authenticate: no challenge");
	return 0;
}

int kc_auth_parse(const char *value, struct kc_auth_challenge *out, size_t max, kc_err_t *err)
{
	size_t count = 0;
	if (parse_challenges(value, out, max, &count, err) < 0) {
		for (size_t i = 0; i < count; i++)
			kc_auth_challenge_free(&out[i]);
		return -1;
	}
	return (int)count;
}

/* ---- docker config.json ------------------------------------------------- */

#define DOCKER_CONFIG_MAX (1u << 20)

/* "https://host:port/v1/" -> "host:port" in buf. */
static void auths_key_host(const char *key, char *buf, size_t cap)
{
	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	size_t n = strcspn(key, "/");
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, key, n);
	buf[n] = '\0';
}

static bool host_matches(const char *keyhost, const char *host)
{
	if (!strcasecmp(keyhost, host))
		return true;
	/* Docker Hub is stored under its v1 index name. */
	static const char *const hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};
	bool a = false, b = false;
	for (size_t i = 0; i < 3; i++) {
		a |= !strcasecmp(keyhost, hub[i]);
		b |= !strcasecmp(host, hub[i]);
	}
	return a && b;
}

static int decode_auth(const char *b64, char **user, char **password, kc_err_t *err)
{
	size_t len = strlen(b64);
	if (len == 0 || len % 4 != 0 || len > 8192)
		return kc_err_new(err, KC_E_INVALID, "docker config: `auth` is not valid base64");
	cleanup_free unsigned char *raw = malloc(len / 4 * 3 + 1);
	if (!raw)
		return kc_err_sys(err, ENOMEM, "docker config");
	int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return kc_err_new(err, KC_E_INVALID, "docker config: `auth` is not valid base64");
	/* EVP_DecodeBlock counts padding as zero bytes. */
	for (size_t i = len; i > 0 && b64[i - 1] == '='; i--)
		n--;
	raw[n] = '\0';
	if (memchr(raw, '\0', (size_t)n))
		return kc_err_new(err, KC_E_INVALID, "docker config: `auth` holds a NUL byte");
	char *colon = strchr((char *)raw, ':');
	if (!colon)
		return kc_err_new(err, KC_E_INVALID,
				  "docker config: `auth` does not decode to user:password");
	*colon = '\0';
	*user = strdup((char *)raw);
	*password = strdup(colon + 1);
	if (!*user || !*password) {
		free(*user);
		free(*password);
		*user = *password = NULL;
		return kc_err_sys(err, ENOMEM, "docker config");
	}
	return 0;
}

int kc_docker_config_auth(const char *json, size_t len, const char *host, char **user,
			  char **password, kc_err_t *err)
{
	cleanup_json yajl_val root = NULL;
	*user = *password = NULL;
	if (len > DOCKER_CONFIG_MAX)
		return kc_err_new(err, KC_E_TOOBIG, "docker config larger than %u bytes",
				  DOCKER_CONFIG_MAX);
	if (kc_json_parse(json, len, &root, err) < 0) {
		(*err)->kind = KC_E_INVALID;
		return kc_err_wrap(err, "docker config");
	}
	yajl_val auths = NULL;
	if (kc_json_opt_obj(root, "/auths", &auths, err) < 0) {
		(*err)->kind = KC_E_INVALID;
		return kc_err_wrap(err, "docker config");
	}
	if (!auths)
		return 0;
	/* An exact key wins over a URL-shaped one for the same host. */
	yajl_val entry = kc_json_member(auths, host);
	for (size_t i = 0; !entry && i < auths->u.object.len; i++) {
		char keyhost[256];
		auths_key_host(auths->u.object.keys[i], keyhost, sizeof keyhost);
		if (host_matches(keyhost, host))
			entry = auths->u.object.values[i];
	}
	if (!entry || !YAJL_IS_OBJECT(entry))
		return 0;
	yajl_val a = kc_json_member(entry, "auth");
	if (a && YAJL_IS_STRING(a) && a->u.string[0]) {
		if (decode_auth(a->u.string, user, password, err) < 0)
			return kc_err_wrap(err, "credentials for %s", host);
		return 1;
	}
	yajl_val u = kc_json_member(entry, "username"), p = kc_json_member(entry, "password");
	if (u && p && YAJL_IS_STRING(u) && YAJL_IS_STRING(p)) {
		*user = strdup(u->u.string);
		*password = strdup(p->u.string);
		if (!*user || !*password) {
			free(*user);
			free(*password);
			*user = *password = NULL;
			return kc_err_sys(err, ENOMEM, "docker config");
		}
		return 1;
	}
	return 0;
}

int kc_docker_config_load_auth(const char *config_dir, const char *host, char **user,
			       char **password, kc_err_t *err)
{
	cleanup_free char *path = NULL;
	const char *dir = config_dir ? config_dir : getenv("DOCKER_CONFIG");
	int n;
	*user = *password = NULL;
	if (dir && *dir) {
		n = asprintf(&path, "%s/config.json", dir);
	} else {
		const char *home = getenv("HOME");
		if (!home || !*home)
			return 0;
		n = asprintf(&path, "%s/.docker/config.json", home);
	}
	if (n < 0)
		return kc_err_sys(err, ENOMEM, "docker config");
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return kc_err_sys(err, errno, "reading %s", path);
	}
	cleanup_free char *buf = malloc(DOCKER_CONFIG_MAX + 1);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "docker config");
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, DOCKER_CONFIG_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kc_err_sys(err, errno, "reading %s", path);
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > DOCKER_CONFIG_MAX)
			return kc_err_new(err, KC_E_TOOBIG, "%s larger than %u bytes", path,
					  DOCKER_CONFIG_MAX);
	}
	if (kc_docker_config_auth(buf, len, host, user, password, err) < 0)
		return kc_err_wrap(err, "%s", path);
	return *user ? 1 : 0;
}
