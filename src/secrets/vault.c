/*
 * The encrypted vault: names and scopes, the master key file, and
 * XChaCha20-Poly1305 encryption of each value into the store's secrets
 * table as nonce || ciphertext, with "NAME\0SCOPE" as additional data.
 *
 * The key is read lazily into sodium_malloc() memory (guarded, locked,
 * read-only after loading) and wiped when the vault closes. Plaintext only
 * ever sits in buffers that are locked where possible and wiped before
 * they are freed.
 */
#include "secrets/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/id.h"
#include "core/str.h"
#include "store/store.h"

#include "core/banned.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define PART_MAX    100 /* characters in an org or repository name */

struct nsh_secrets {
	struct nsh_store *store; /* borrowed */
	char *key_path;		 /* the master key file */
	bool key_explicit;	 /* named by the caller or the environment: never created */
	unsigned char *key;	 /* sodium_malloc'd, read-only; NULL until needed */
};

/* ---- names and scopes ---- */

bool nsh_secrets_name_valid(const char *name)
{
	size_t n;

	if (!name || !((*name >= 'A' && *name <= 'Z') || *name == '_'))
		return false;
	for (n = 1; name[n]; n++) {
		char c = name[n];

		if (n >= NSH_SECRETS_NAME_MAX)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* Length of the org or repository name at @s, up to a '/' or the end; 0 when invalid. */
static size_t part_len(const char *s)
{
	size_t n = 0;

	if (*s == '.' || *s == '-')
		return 0;
	for (; s[n] && s[n] != '/'; n++) {
		char c = s[n];

		if (n >= PART_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n;
}

static bool repo_valid(const char *repo)
{
	size_t n = part_len(repo);

	return n && repo[n] == '/' && part_len(repo + n + 1) &&
	       !repo[n + 1 + part_len(repo + n + 1)];
}

static bool org_valid(const char *org)
{
	size_t n = part_len(org);

	return n && !org[n];
}

int nsh_secrets_check_scope(const char *scope, struct nsh_err *err)
{
	if (!strcmp(scope, "global"))
		return 0;
	if (nsh_starts_with(scope, "org:")) {
		if (org_valid(scope + 4))
			return 0;
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid scope '%s': expected org:NAME with a valid "
				   "organisation name",
				   scope);
	}
	if (nsh_starts_with(scope, "repo:")) {
		if (repo_valid(scope + 5))
			return 0;
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid scope '%s': expected repo:ORG/NAME with valid names",
				   scope);
	}
	if (nsh_starts_with(scope, "task:")) {
		if (nsh_id_valid("t", scope + 5))
			return 0;
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid scope '%s': expected task:ID with a task id such as "
				   "'t-7f3a9c'",
				   scope);
	}
	return nsh_err_set(err, NSH_EINVAL,
			   "invalid scope '%s': expected global, org:ORG, repo:ORG/NAME or "
			   "task:ID",
			   scope);
}

static int check_name_scope(const char *name, const char *scope, struct nsh_err *err)
{
	if (!nsh_secrets_name_valid(name))
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid secret name '%.*s': expected an environment variable "
				   "name ([A-Z_][A-Z0-9_]*, at most %d characters)",
				   NSH_SECRETS_NAME_MAX, name ? name : "", NSH_SECRETS_NAME_MAX);
	return nsh_secrets_check_scope(scope, err);
}

/* ---- the master key ---- */

/* Read exactly @len bytes; -1 with errno on failure, or with errno 0 at an early end. */
static int read_exact(int fd, unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Check and read the key file at v->key_path into v->key. ENOENT is
 * reported as NSH_ENOTFOUND so that the caller can decide to create it.
 */
static int key_read(struct nsh_secrets *v, struct nsh_err *err)
{
	const char *path = v->key_path;
	unsigned char *key = NULL, extra;
	struct stat st;
	int fd, rc = 0;

	/* O_NONBLOCK: a FIFO in the way must not hang us before fstat() refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return nsh_err_set(err, NSH_ENOTFOUND,
					   "master key file '%s' does not exist", path);
		return nsh_err_sys(err, errno, "cannot open master key file '%s'", path);
	}
	if (fstat(fd, &st) < 0) {
		rc = nsh_err_sys(err, errno, "cannot read master key file '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = nsh_err_set(err, NSH_EINVAL, "master key file '%s' is not a regular file",
				 path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = nsh_err_set(err, NSH_EDENIED,
				 "master key file '%s' is accessible by group or others (mode "
				 "%04o); it must be mode 0600: chmod 600 '%s'",
				 path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		rc = nsh_err_set(err, NSH_EDENIED,
				 "master key file '%s' is owned by uid %u, not by the user running "
				 "nightshift (uid %u)",
				 path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	if (st.st_size != NSH_SECRETS_KEY_BYTES) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "master key file '%s' has %lld bytes, expected %d: not a "
				 "nightshift master key",
				 path, (long long)st.st_size, NSH_SECRETS_KEY_BYTES);
		goto out;
	}
	key = sodium_malloc(NSH_SECRETS_KEY_BYTES);
	if (!key) {
		rc = nsh_err_set(err, NSH_EIO, "cannot allocate memory for the master key");
		goto out;
	}
	/* Exactly the size checked above, also if the file changed meanwhile. */
	if (read_exact(fd, key, NSH_SECRETS_KEY_BYTES) < 0 || read(fd, &extra, 1) != 0) {
		rc = errno ? nsh_err_sys(err, errno, "cannot read master key file '%s'", path)
			   : nsh_err_set(err, NSH_EINVAL,
					 "master key file '%s' changed size while being read",
					 path);
		goto out;
	}
	sodium_mprotect_readonly(key);
	v->key = key;
	key = NULL;
out:
	sodium_free(key);
	close(fd);
	return rc;
}

/* fsync() the directory that holds @path, so that a new name in it is durable. */
static void sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? nsh_xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : nsh_xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * Create the default key file with a fresh random key. It is written in
 * full under a temporary name by the atomic writer (mode 0600, fsynced) and
 * then linked to its real name, which fails if another process created the
 * key meanwhile: then that key is the one, and ours is dropped unused.
 */
static int key_create(struct nsh_secrets *v, struct nsh_err *err)
{
	unsigned char *key = sodium_malloc(NSH_SECRETS_KEY_BYTES);
	unsigned char rnd[6];
	char hex[sizeof(rnd) * 2 + 1];
	char *tmp = NULL;
	int rc;

	if (!key)
		return nsh_err_set(err, NSH_EIO, "cannot allocate memory for the master key");
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	tmp = nsh_xasprintf("%s.new-%s", v->key_path, hex);
	rc = nsh_fs_write_atomic(tmp, key, NSH_SECRETS_KEY_BYTES, 0600, err);
	if (rc) {
		nsh_err_wrap(err, "cannot create master key file '%s'", v->key_path);
		goto out;
	}
	if (link(tmp, v->key_path) < 0 && errno != EEXIST)
		rc = nsh_err_sys(err, errno, "cannot create master key file '%s'", v->key_path);
	unlink(tmp);
	if (!rc)
		sync_parent(v->key_path);
out:
	sodium_free(key);
	free(tmp);
	return rc;
}

/*
 * Make v->key available. With @create, a missing default key file is made
 * when the vault is empty; a missing key in front of existing secrets is an
 * error that says so (a new key could not decrypt them).
 */
static int key_load(struct nsh_secrets *v, bool create, struct nsh_err *err)
{
	int64_t count = 0;
	int rc;

	if (v->key)
		return 0;
	rc = key_read(v, err);
	if (rc != NSH_ENOTFOUND)
		return rc;
	if (v->key_explicit)
		return nsh_err_set(err, NSH_ENOTFOUND,
				   "master key file '%s' does not exist (it is named explicitly, "
				   "so nightshift does not create it)",
				   v->key_path);
	rc = nsh_store_secret_count(v->store, &count, err);
	if (rc)
		return rc;
	/* Another process may have just created the key and stored the first secret. */
	if (count && (rc = key_read(v, err)) != NSH_ENOTFOUND)
		return rc;
	if (count)
		return nsh_err_set(err, NSH_ENOTFOUND,
				   "master key file '%s' does not exist but the vault holds %lld "
				   "secret(s) encrypted with it; restore the file, or remove them "
				   "with 'nightshift secret rm'",
				   v->key_path, (long long)count);
	if (!create)
		return nsh_err_set(err, NSH_ENOTFOUND, "master key file '%s' does not exist",
				   v->key_path);
	rc = key_create(v, err);
	if (rc)
		return rc;
	return key_read(v, err);
}

/* ---- opening ---- */

int nsh_secrets_open(struct nsh_store *store, const char *home, const char *key_file,
		     struct nsh_secrets **ret, struct nsh_err *err)
{
	struct nsh_secrets *v;
	const char *env = getenv(NSH_SECRETS_KEY_ENV);

	if (sodium_init() < 0)
		return nsh_err_set(err, NSH_EIO, "cannot initialise libsodium");
	v = nsh_xcalloc(1, sizeof(*v));
	v->store = store;
	if (key_file && *key_file) {
		v->key_path = nsh_xstrdup(key_file);
		v->key_explicit = true;
	} else if (env && *env) {
		v->key_path = nsh_xstrdup(env);
		v->key_explicit = true;
	} else {
		v->key_path = nsh_xasprintf("%s/%s", home, NSH_SECRETS_KEY_FILE);
	}
	*ret = v;
	return 0;
}

void nsh_secrets_close(struct nsh_secrets *v)
{
	if (!v)
		return;
	sodium_free(v->key); /* wipes */
	free(v->key_path);
	free(v);
}

const char *nsh_secrets_key_path(const struct nsh_secrets *v)
{
	return v->key_path;
}

/* ---- encryption ---- */

/* The additional data of (@name, @scope): "NAME\0SCOPE". */
static void make_ad(struct nsh_buf *ad, const char *name, const char *scope)
{
	nsh_buf_adds(ad, name);
	nsh_buf_addch(ad, '\0');
	nsh_buf_adds(ad, scope);
}

static int undecryptable(const char *name, const char *scope, struct nsh_err *err)
{
	return nsh_err_set(err, NSH_EINVAL,
			   "secret '%s' (scope %s) cannot be decrypted: wrong master key or "
			   "corrupted data",
			   name, scope);
}

/* Plaintext length of a stored value of @len bytes; false when too short to be one. */
static bool plain_len(size_t len, size_t *ret)
{
	if (len < NONCE_BYTES + TAG_BYTES)
		return false;
	*ret = len - NONCE_BYTES - TAG_BYTES;
	return true;
}

/* Decrypt @blob into @out, which has room for plain_len() bytes. */
static int decrypt_into(const struct nsh_secrets *v, const char *name, const char *scope,
			const unsigned char *blob, size_t len, unsigned char *out,
			struct nsh_err *err)
{
	struct nsh_buf ad = NSH_BUF_INIT;
	unsigned long long plen;
	int rc = 0;

	make_ad(&ad, name, scope);
	if (len < NONCE_BYTES + TAG_BYTES ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(
		    out, &plen, NULL, blob + NONCE_BYTES, len - NONCE_BYTES,
		    (const unsigned char *)ad.buf, ad.len, blob, v->key) != 0)
		rc = undecryptable(name, scope, err);
	nsh_buf_release(&ad);
	return rc;
}

int nsh_secrets_set(struct nsh_secrets *v, const char *name, const char *scope, const void *value,
		    size_t len, struct nsh_err *err)
{
	struct nsh_buf ad = NSH_BUF_INIT;
	unsigned char *blob = NULL;
	unsigned long long clen;
	int rc;

	rc = check_name_scope(name, scope, err);
	if (rc)
		return rc;
	if (!len)
		return nsh_err_set(err, NSH_EINVAL, "secret '%s' has an empty value", name);
	if (len > NSH_SECRETS_VALUE_MAX)
		return nsh_err_set(err, NSH_ETOOBIG,
				   "the value of secret '%s' has %zu bytes, more than the limit of "
				   "%d",
				   name, len, NSH_SECRETS_VALUE_MAX);
	if (memchr(value, '\0', len))
		return nsh_err_set(err, NSH_EINVAL,
				   "the value of secret '%s' contains a NUL byte, which an "
				   "environment variable cannot hold",
				   name);
	rc = key_load(v, true, err);
	if (rc)
		return rc;
	make_ad(&ad, name, scope);
	blob = nsh_xmalloc(NONCE_BYTES + len + TAG_BYTES);
	randombytes_buf(blob, NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + NONCE_BYTES, &clen, value, len,
						   (const unsigned char *)ad.buf, ad.len, NULL,
						   blob, v->key);
	rc = nsh_store_secret_put(v->store, name, scope, blob, NONCE_BYTES + (size_t)clen, err);
	free(blob);
	nsh_buf_release(&ad);
	return rc;
}

/* malloc'd memory for plaintext: locked when the system allows it. */
static char *plain_alloc(size_t len)
{
	char *p = nsh_xmalloc(len);

	sodium_mlock(p, len); /* best effort: RLIMIT_MEMLOCK may say no */
	return p;
}

static void plain_free(char *p, size_t len)
{
	if (!p)
		return;
	sodium_munlock(p, len); /* wipes, then unlocks */
	sodium_memzero(p, len); /* in case munlock failed before wiping */
	free(p);
}

int nsh_secrets_get(struct nsh_secrets *v, const char *name, const char *scope, char **ret_value,
		    size_t *ret_len, struct nsh_err *err)
{
	void *blob = NULL;
	size_t blen = 0, plen;
	char *out = NULL;
	int rc;

	rc = check_name_scope(name, scope, err);
	if (rc)
		return rc;
	rc = nsh_store_secret_get(v->store, name, scope, &blob, &blen, err);
	if (rc)
		return rc;
	if (!plain_len(blen, &plen)) {
		rc = undecryptable(name, scope, err);
		goto out;
	}
	rc = key_load(v, false, err);
	if (rc)
		goto out;
	out = plain_alloc(plen + 1);
	rc = decrypt_into(v, name, scope, blob, blen, (unsigned char *)out, err);
	if (rc) {
		plain_free(out, plen + 1);
		goto out;
	}
	out[plen] = '\0';
	*ret_value = out;
	*ret_len = plen;
out:
	free(blob);
	return rc;
}

void nsh_secrets_value_free(char *value, size_t len)
{
	plain_free(value, len + 1);
}

int nsh_secrets_remove(struct nsh_secrets *v, const char *name, const char *scope,
		       struct nsh_err *err)
{
	int rc = check_name_scope(name, scope, err);

	return rc ? rc : nsh_store_secret_delete(v->store, name, scope, err);
}

int nsh_secrets_list(struct nsh_secrets *v, struct nsh_secret_list *ret, struct nsh_err *err)
{
	return nsh_store_secret_list(v->store, ret, err);
}

/* ---- the secrets of a job ---- */

/* A row that may end up in a job's environment; ciphertext only. */
struct pick {
	char *name;	     /* variable name */
	char *scope;	     /* its scope */
	int rank;	     /* 0 global, 1 org, 2 repo, 3 task */
	unsigned char *blob; /* nonce || ciphertext */
	size_t len;	     /* bytes in blob */
};

struct picks {
	struct pick *v;
	size_t nr;
	size_t alloc;
	const char *const *scopes; /* indexed by rank */
};

static void picks_release(struct picks *p)
{
	for (size_t i = 0; i < p->nr; i++) {
		free(p->v[i].name);
		free(p->v[i].scope);
		free(p->v[i].blob);
	}
	free(p->v);
}

/* nsh_store_secret_each() callback: keep the most specific row per name. */
static int pick_row(const char *name, const char *scope, const void *blob, size_t len, void *ctx,
		    struct nsh_err *err)
{
	struct picks *p = ctx;
	struct pick *last = p->nr ? &p->v[p->nr - 1] : NULL;
	int rank = 0;

	(void)err;
	while (rank < NSH_STORE_SECRET_SCOPES - 1 &&
	       (!p->scopes[rank] || strcmp(p->scopes[rank], scope)))
		rank++;
	/* Rows come ordered by name, so equal names are adjacent. */
	if (last && !strcmp(last->name, name)) {
		if (rank < last->rank)
			return 0;
		free(last->scope);
		free(last->blob);
	} else {
		NSH_ALLOC_GROW(p->v, p->nr + 1, p->alloc);
		last = &p->v[p->nr++];
		last->name = nsh_xstrdup(name);
	}
	last->scope = nsh_xstrdup(scope);
	last->rank = rank;
	last->blob = (unsigned char *)nsh_xmemdup(blob, len);
	last->len = len;
	return 0;
}

void nsh_secrets_env_free(struct nsh_secrets_env *env)
{
	if (!env)
		return;
	plain_free(env->mem, env->mem_len);
	free(env->v);
	free(env->envp);
	free(env);
}

/* Lay out every picked secret in one locked block and decrypt into it. */
static int build_env(struct nsh_secrets *v, const struct picks *p, struct nsh_secrets_env *env,
		     struct nsh_err *err)
{
	size_t total = 1, off = 0;
	int rc;

	for (size_t i = 0; i < p->nr; i++) {
		size_t plen;

		if (!plain_len(p->v[i].len, &plen))
			return undecryptable(p->v[i].name, p->v[i].scope, err);
		/* "NAME\0" "SCOPE\0" "NAME=VALUE\0" */
		total += 2 * (strlen(p->v[i].name) + 1) + strlen(p->v[i].scope) + 1 + plen + 1;
	}
	if (p->nr) {
		rc = key_load(v, false, err);
		if (rc)
			return rc;
	}
	env->mem = plain_alloc(total);
	env->mem_len = total;
	env->v = nsh_xcalloc(p->nr ? p->nr : 1, sizeof(*env->v));
	env->envp = nsh_xcalloc(p->nr + 1, sizeof(*env->envp));
	for (size_t i = 0; i < p->nr; i++) {
		const struct pick *k = &p->v[i];
		size_t nlen = strlen(k->name), slen = strlen(k->scope), plen = 0;
		struct nsh_secrets_pair *pair = &env->v[env->nr];
		char *e;

		plain_len(k->len, &plen);
		pair->name = memcpy(env->mem + off, k->name, nlen + 1);
		off += nlen + 1;
		pair->scope = memcpy(env->mem + off, k->scope, slen + 1);
		off += slen + 1;
		e = env->mem + off;
		memcpy(e, k->name, nlen);
		e[nlen] = '=';
		rc = decrypt_into(v, k->name, k->scope, k->blob, k->len,
				  (unsigned char *)e + nlen + 1, err);
		if (rc)
			return rc;
		e[nlen + 1 + plen] = '\0';
		off += nlen + 1 + plen + 1;
		pair->value = e + nlen + 1;
		pair->value_len = plen;
		env->envp[env->nr++] = e;
	}
	env->mem[off] = '\0';
	return 0;
}

int nsh_secrets_for_scope(struct nsh_secrets *v, const char *org, const char *repo,
			  const char *task, struct nsh_secrets_env **ret, struct nsh_err *err)
{
	char *scopes[NSH_STORE_SECRET_SCOPES] = {NULL};
	struct picks p = {0};
	struct nsh_secrets_env *env = NULL;
	char *owner = NULL;
	int rc = 0;

	if (repo && !repo_valid(repo)) {
		rc = nsh_err_set(err, NSH_EINVAL, "invalid repository '%s': expected ORG/NAME",
				 repo);
		goto out;
	}
	if (repo)
		owner = nsh_xstrndup(repo, strcspn(repo, "/"));
	if (org && !org_valid(org)) {
		rc = nsh_err_set(err, NSH_EINVAL, "invalid organisation name '%s'", org);
		goto out;
	}
	if (org && owner && strcmp(org, owner)) {
		rc = nsh_err_set(err, NSH_EINVAL, "repository '%s' does not belong to org '%s'",
				 repo, org);
		goto out;
	}
	if (task && !nsh_id_valid("t", task)) {
		rc = nsh_err_set(err, NSH_EINVAL, "invalid task id '%s'", task);
		goto out;
	}
	if (!org)
		org = owner;
	scopes[0] = nsh_xstrdup("global");
	scopes[1] = org ? nsh_xasprintf("org:%s", org) : NULL;
	scopes[2] = repo ? nsh_xasprintf("repo:%s", repo) : NULL;
	scopes[3] = task ? nsh_xasprintf("task:%s", task) : NULL;
	p.scopes = (const char *const *)scopes;
	rc = nsh_store_secret_each(v->store, (const char *const *)scopes, pick_row, &p, err);
	if (rc)
		goto out;
	env = nsh_xcalloc(1, sizeof(*env));
	rc = build_env(v, &p, env, err);
	if (rc)
		goto out;
	*ret = env;
	env = NULL;
out:
	nsh_secrets_env_free(env);
	picks_release(&p);
	for (int i = 0; i < NSH_STORE_SECRET_SCOPES; i++)
		free(scopes[i]);
	free(owner);
	return rc;
}
