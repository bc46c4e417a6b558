/*
 * The secrets vault: encryption round trips, additional data binding a value
 * to its name and scope, tampering, the master key file (creation, refusal
 * of bad permissions, size and type, NIGHTSHIFT_MASTER_KEY_FILE), scope
 * precedence, and that no plaintext reaches the database files.
 */
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "pgstore.h"
#include "secrets/secrets.h"
#include "store/store.h"
#include "test.h"

static char *dir;

/* A vault on a fresh home "<dir>/<name>", with its store. */
struct fixture {
	char *home;
	char *db;
	struct nsh_store *store;
	struct nsh_secrets *v;
};

static void fx_open(struct fixture *f, const char *name)
{
	struct nsh_err err = NSH_ERR_INIT;

	f->home = nsh_xasprintf("%s/%s%s", dir, name, pgs_url ? "-pg" : "");
	f->db = pgs_url ? pgs_new_db(name) : nsh_xasprintf("%s/nightshift.db", f->home);
	if (nsh_fs_mkdir_p(f->home, 0700, &err) || nsh_store_open(f->db, &f->store, &err) ||
	    nsh_secrets_open(f->store, f->home, NULL, &f->v, &err)) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		abort();
	}
}

/* Close and reopen the vault (a new process would do that), keeping the store. */
static void fx_reopen_vault(struct fixture *f)
{
	struct nsh_err err = NSH_ERR_INIT;

	nsh_secrets_close(f->v);
	f->v = NULL;
	if (nsh_secrets_open(f->store, f->home, NULL, &f->v, &err))
		abort();
}

static void fx_close(struct fixture *f)
{
	nsh_secrets_close(f->v);
	nsh_store_close(f->store);
	free(f->home);
	free(f->db);
}

static char *key_path(const struct fixture *f)
{
	return nsh_xasprintf("%s/master.key", f->home);
}

/* The whole file at @path (empty when missing). */
static void slurp(const char *path, struct nsh_buf *out)
{
	struct nsh_err err = NSH_ERR_INIT;

	nsh_buf_reset(out);
	nsh_fs_read_file(path, out, 64u << 20, &err);
}

static bool has_value(struct nsh_secrets *v, const char *name, const char *scope, const char *want)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *val = NULL;
	size_t len = 0;
	bool ok;

	if (nsh_secrets_get(v, name, scope, &val, &len, &err))
		return false;
	ok = len == strlen(want) && !memcmp(val, want, len) && val[len] == '\0';
	nsh_secrets_value_free(val, len);
	return ok;
}

static int set(struct nsh_secrets *v, const char *name, const char *scope, const char *val,
	       struct nsh_err *err)
{
	return nsh_secrets_set(v, name, scope, val, strlen(val), err);
}

/* Run @sql on a separate connection to @db. */
static int raw_exec(const char *db, const char *sql)
{
	sqlite3 *h;
	int rc;

	if (sqlite3_open(db, &h) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(h, 5000);
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

static void test_round_trip(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secret_list l = {0};
	void *b1 = NULL, *b2 = NULL;
	size_t n1 = 0, n2 = 0;
	int64_t created;

	fx_open(&f, "roundtrip");
	CHECK_INT(set(f.v, "GITHUB_TOKEN", "global", "ghp_first-value", &err), 0);
	CHECK(has_value(f.v, "GITHUB_TOKEN", "global", "ghp_first-value"));
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 1);
	created = l.nr ? l.v[0].created_ms : 0;
	nsh_secret_list_release(&l);

	/* A multi-line value (a PEM key) survives byte for byte. */
	CHECK_INT(set(f.v, "DEPLOY_KEY", "repo:acme/api",
		      "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n", &err),
		  0);
	CHECK(has_value(f.v, "DEPLOY_KEY", "repo:acme/api",
			"-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n"));

	/* Replacing keeps the creation time; the same value twice gives two ciphertexts. */
	nsh_store_secret_get(f.store, "GITHUB_TOKEN", "global", &b1, &n1, &err);
	CHECK_INT(set(f.v, "GITHUB_TOKEN", "global", "ghp_first-value", &err), 0);
	nsh_store_secret_get(f.store, "GITHUB_TOKEN", "global", &b2, &n2, &err);
	CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) != 0);
	/* nonce (24) + value + tag (16) */
	CHECK_INT(n1, 24 + strlen("ghp_first-value") + 16);
	CHECK_INT(set(f.v, "GITHUB_TOKEN", "global", "ghp_second", &err), 0);
	CHECK(has_value(f.v, "GITHUB_TOKEN", "global", "ghp_second"));
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 2);
	CHECK(l.nr == 2 && !strcmp(l.v[1].name, "GITHUB_TOKEN") && l.v[1].created_ms == created &&
	      l.v[1].updated_ms >= created);
	nsh_secret_list_release(&l);

	/* A fresh vault on the same home reads them with the key from the file. */
	fx_reopen_vault(&f);
	CHECK(has_value(f.v, "GITHUB_TOKEN", "global", "ghp_second"));

	CHECK_INT(nsh_secrets_get(f.v, "GITHUB_TOKEN", "org:acme", &(char *){NULL}, &n1, &err),
		  NSH_ENOTFOUND);
	CHECK_STR(err.msg, "no secret 'GITHUB_TOKEN' in scope 'org:acme'");
	CHECK_INT(nsh_secrets_remove(f.v, "GITHUB_TOKEN", "global", &err), 0);
	CHECK_INT(nsh_secrets_remove(f.v, "GITHUB_TOKEN", "global", &err), NSH_ENOTFOUND);
	free(b1);
	free(b2);
	fx_close(&f);
}

static void test_validation(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secret_list l = {0};
	char *big = nsh_xmalloc(NSH_SECRETS_VALUE_MAX + 1);
	char name129[130];

	memset(big, 'v', NSH_SECRETS_VALUE_MAX + 1);
	memset(name129, 'A', 129);
	name129[129] = '\0';
	fx_open(&f, "validation");
	CHECK(nsh_secrets_name_valid("A"));
	CHECK(nsh_secrets_name_valid("_X9"));
	CHECK(!nsh_secrets_name_valid("9X"));
	CHECK(!nsh_secrets_name_valid("lower"));
	CHECK(!nsh_secrets_name_valid("A-B"));
	CHECK(!nsh_secrets_name_valid(""));
	CHECK(!nsh_secrets_name_valid(name129));
	name129[128] = '\0';
	CHECK(nsh_secrets_name_valid(name129));

	CHECK_INT(nsh_secrets_check_scope("global", &err), 0);
	CHECK_INT(nsh_secrets_check_scope("org:acme", &err), 0);
	CHECK_INT(nsh_secrets_check_scope("repo:acme/api.v2", &err), 0);
	CHECK_INT(nsh_secrets_check_scope("task:t-7f3a9c", &err), 0);
	CHECK_INT(nsh_secrets_check_scope("repo:acme", &err), NSH_EINVAL);
	CHECK_INT(nsh_secrets_check_scope("org:", &err), NSH_EINVAL);
	CHECK_INT(nsh_secrets_check_scope("org:a/b", &err), NSH_EINVAL);
	CHECK_INT(nsh_secrets_check_scope("task:7", &err), NSH_EINVAL);
	CHECK_INT(nsh_secrets_check_scope("Global", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "invalid scope 'Global'") != NULL);

	CHECK_INT(set(f.v, "bad-name", "global", "value", &err), NSH_EINVAL);
	CHECK_INT(set(f.v, "GOOD", "team:x", "value", &err), NSH_EINVAL);
	CHECK_INT(set(f.v, "GOOD", "global", "", &err), NSH_EINVAL);
	CHECK_INT(nsh_secrets_set(f.v, "GOOD", "global", "a\0b", 3, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "NUL") != NULL);
	CHECK_INT(nsh_secrets_set(f.v, "GOOD", "global", big, NSH_SECRETS_VALUE_MAX + 1, &err),
		  NSH_ETOOBIG);
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 0);
	nsh_secret_list_release(&l);
	/* Nothing was stored, so nothing needed the key yet. */
	{
		_nsh_cleanup_free_ char *kp = key_path(&f);

		CHECK(!nsh_fs_exists(kp));
	}
	/* Exactly the limit is fine. */
	CHECK_INT(nsh_secrets_set(f.v, "GOOD", "global", big, NSH_SECRETS_VALUE_MAX, &err), 0);
	free(big);
	fx_close(&f);
}

/* Rows moved to another name or scope do not decrypt: the additional data binds them. */
static void test_additional_data(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	char *val = NULL;
	size_t len = 0;

	fx_open(&f, "ad");
	CHECK_INT(set(f.v, "ALPHA", "global", "alpha-value", &err), 0);
	CHECK_INT(set(f.v, "BETA", "global", "beta-value", &err), 0);
	CHECK_INT(set(f.v, "GAMMA", "org:acme", "gamma-value", &err), 0);

	/* BETA gets ALPHA's ciphertext. */
	CHECK_INT(raw_exec(f.db, "UPDATE secrets SET value = (SELECT value FROM secrets WHERE "
				 "name = 'ALPHA') WHERE name = 'BETA'"),
		  SQLITE_OK);
	CHECK_INT(nsh_secrets_get(f.v, "BETA", "global", &val, &len, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "secret 'BETA' (scope global) cannot be decrypted: wrong master key "
			   "or corrupted data");
	/* GAMMA moved to another scope. */
	CHECK_INT(raw_exec(f.db, "UPDATE secrets SET scope = 'org:evil' WHERE name = 'GAMMA'"),
		  SQLITE_OK);
	CHECK_INT(nsh_secrets_get(f.v, "GAMMA", "org:evil", &val, &len, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "secret 'GAMMA' (scope org:evil) cannot be decrypted: wrong master "
			   "key or corrupted data");
	/* The original is untouched and still reads. */
	CHECK(has_value(f.v, "ALPHA", "global", "alpha-value"));
	fx_close(&f);
}

static void test_tampered(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secrets_env *env = NULL;
	struct nsh_secret_list l = {0};
	unsigned char *blob = NULL;
	char *val = NULL;
	size_t len = 0;

	fx_open(&f, "tampered");
	CHECK_INT(set(f.v, "API_KEY", "global", "sk-live-abcdef", &err), 0);
	CHECK_INT(set(f.v, "OTHER", "global", "other-value", &err), 0);
	CHECK_INT(set(f.v, "THIRD", "org:acme", "third-value", &err), 0);

	/* Flip one bit of the ciphertext through the raw store. */
	CHECK_INT(nsh_store_secret_get(f.store, "API_KEY", "global", (void **)&blob, &len, &err),
		  0);
	if (blob) {
		blob[30] ^= 0x01;
		CHECK_INT(nsh_store_secret_put(f.store, "API_KEY", "global", blob, len, &err), 0);
	}
	free(blob);
	CHECK_INT(nsh_secrets_get(f.v, "API_KEY", "global", &val, &len, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "secret 'API_KEY' (scope global) cannot be decrypted: wrong master "
			   "key or corrupted data");
	/* A job that would see it does not start with it silently missing. */
	CHECK_INT(nsh_secrets_for_scope(f.v, NULL, NULL, NULL, &env, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'API_KEY'") != NULL);
	CHECK(env == NULL);

	/* Everything else survives. */
	CHECK(has_value(f.v, "OTHER", "global", "other-value"));
	CHECK(has_value(f.v, "THIRD", "org:acme", "third-value"));
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 3);
	nsh_secret_list_release(&l);

	/* A flipped nonce byte (with sqlite3 this time) and a truncated row fail the same way. */
	CHECK_INT(raw_exec(f.db,
			   "UPDATE secrets SET value = CAST(x'00' || substr(value, 2) AS BLOB) "
			   "WHERE name = 'OTHER'"),
		  SQLITE_OK);
	CHECK_INT(nsh_secrets_get(f.v, "OTHER", "global", &val, &len, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "cannot be decrypted") != NULL);
	CHECK_INT(raw_exec(f.db, "UPDATE secrets SET value = x'0102' WHERE name = 'THIRD'"),
		  SQLITE_OK);
	CHECK_INT(nsh_secrets_get(f.v, "THIRD", "org:acme", &val, &len, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "secret 'THIRD' (scope org:acme) cannot be decrypted: wrong master "
			   "key or corrupted data");

	/* A damaged secret can still be replaced. */
	CHECK_INT(set(f.v, "API_KEY", "global", "sk-live-new", &err), 0);
	CHECK(has_value(f.v, "API_KEY", "global", "sk-live-new"));
	fx_close(&f);
}

/* A different master key: every value refuses to decrypt with the clear message. */
static void test_wrong_key(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	_nsh_cleanup_free_ char *kp = NULL;
	unsigned char key[32];
	char *val = NULL;
	size_t len;

	fx_open(&f, "wrongkey");
	kp = key_path(&f);
	CHECK_INT(set(f.v, "TOKEN", "global", "token-value", &err), 0);
	randombytes_buf(key, sizeof(key));
	CHECK_INT(nsh_fs_write_atomic(kp, key, sizeof(key), 0600, &err), 0);
	fx_reopen_vault(&f);
	CHECK_INT(nsh_secrets_get(f.v, "TOKEN", "global", &val, &len, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "secret 'TOKEN' (scope global) cannot be decrypted: wrong master key "
			   "or corrupted data");
	fx_close(&f);
}

static void test_key_created(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secret_list l = {0};
	_nsh_cleanup_free_ char *kp = NULL;
	struct stat st;

	fx_open(&f, "keynew");
	kp = key_path(&f);
	CHECK_STR(nsh_secrets_key_path(f.v), kp);
	/* Listing and removing need no key and create none. */
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(nsh_secrets_remove(f.v, "NOPE", "global", &err), NSH_ENOTFOUND);
	CHECK(!nsh_fs_exists(kp));
	umask(022); /* the mode must not depend on the umask */
	CHECK_INT(set(f.v, "FIRST", "global", "first-value", &err), 0);
	CHECK_INT(stat(kp, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(st.st_size, 32);
	/* No temporary file is left next to it. */
	{
		_nsh_cleanup_free_ char *cmd =
			nsh_xasprintf("test $(ls -A '%s' | grep -c key) -eq 1", f.home);

		CHECK_INT(system(cmd), 0);
	}

	/* A lost key is not replaced while secrets need it. */
	CHECK_INT(unlink(kp), 0);
	fx_reopen_vault(&f);
	CHECK_INT(set(f.v, "SECOND", "global", "second-value", &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, kp) != NULL);
	CHECK(strstr(err.msg, "holds 1 secret") != NULL);
	CHECK(!nsh_fs_exists(kp));
	nsh_secret_list_release(&l);
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 1);
	nsh_secret_list_release(&l);
	fx_close(&f);
}

/* A key file that is group/other accessible, the wrong size or not a file: refused, nothing
 * changes. */
static void test_key_refused(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf key0 = NSH_BUF_INIT, key1 = NSH_BUF_INIT;
	struct nsh_secret_list l = {0};
	struct nsh_secrets *v = NULL;
	_nsh_cleanup_free_ char *kp = NULL, *short_key = NULL, *fifo = NULL;
	void *b0 = NULL, *b1 = NULL;
	size_t n0 = 0, n1 = 0;
	char *val = NULL;
	size_t len;

	fx_open(&f, "keybad");
	kp = key_path(&f);
	CHECK_INT(set(f.v, "KEEP", "global", "keep-value", &err), 0);
	slurp(kp, &key0);
	nsh_store_secret_get(f.store, "KEEP", "global", &b0, &n0, &err);

	CHECK_INT(chmod(kp, 0644), 0);
	fx_reopen_vault(&f);
	CHECK_INT(set(f.v, "NEW", "global", "new-value", &err), NSH_EDENIED);
	CHECK(strstr(err.msg, kp) != NULL);
	CHECK(strstr(err.msg, "group or others (mode 0644)") != NULL);
	CHECK_INT(nsh_secrets_get(f.v, "KEEP", "global", &val, &len, &err), NSH_EDENIED);
	CHECK_INT(chmod(kp, 0640), 0);
	CHECK_INT(set(f.v, "NEW", "global", "new-value", &err), NSH_EDENIED);

	/* Nothing changed: same rows, same ciphertext, same key. */
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 1);
	nsh_secret_list_release(&l);
	nsh_store_secret_get(f.store, "KEEP", "global", &b1, &n1, &err);
	CHECK(b0 && b1 && n0 == n1 && !memcmp(b0, b1, n0));
	slurp(kp, &key1);
	CHECK(key0.len == 32 && key1.len == 32 && !memcmp(key0.buf, key1.buf, 32));
	CHECK_INT(chmod(kp, 0600), 0);
	fx_reopen_vault(&f);
	CHECK(has_value(f.v, "KEEP", "global", "keep-value"));

	/* The wrong size. */
	short_key = nsh_xasprintf("%s/short.key", f.home);
	CHECK_INT(nsh_fs_write_atomic(short_key, key0.buf, 31, 0600, &err), 0);
	CHECK_INT(nsh_secrets_open(f.store, f.home, short_key, &v, &err), 0);
	CHECK_INT(set(v, "NEW", "global", "new-value", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, short_key) != NULL);
	CHECK(strstr(err.msg, "has 31 bytes, expected 32") != NULL);
	nsh_secrets_close(v);

	/* Not a regular file: a directory, and a FIFO (which must not hang us). */
	CHECK_INT(nsh_secrets_open(f.store, f.home, f.home, &v, &err), 0);
	CHECK_INT(nsh_secrets_get(v, "KEEP", "global", &val, &len, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "is not a regular file") != NULL);
	nsh_secrets_close(v);
	fifo = nsh_xasprintf("%s/fifo.key", f.home);
	CHECK_INT(mkfifo(fifo, 0600), 0);
	CHECK_INT(nsh_secrets_open(f.store, f.home, fifo, &v, &err), 0);
	CHECK_INT(nsh_secrets_get(v, "KEEP", "global", &val, &len, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "is not a regular file") != NULL);
	nsh_secrets_close(v);

	nsh_secret_list_release(&l);
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 1);
	nsh_secret_list_release(&l);
	nsh_buf_release(&key0);
	nsh_buf_release(&key1);
	free(b0);
	free(b1);
	fx_close(&f);
}

static void test_key_env(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secrets *v = NULL;
	_nsh_cleanup_free_ char *kp = NULL, *other = NULL, *missing = NULL;
	unsigned char key[32];

	fx_open(&f, "keyenv");
	kp = key_path(&f);
	other = nsh_xasprintf("%s/elsewhere.key", dir);
	missing = nsh_xasprintf("%s/missing.key", dir);
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	CHECK_INT(nsh_fs_write_atomic(other, key, sizeof(key), 0600, &err), 0);

	setenv(NSH_SECRETS_KEY_ENV, other, 1);
	CHECK_INT(nsh_secrets_open(f.store, f.home, NULL, &v, &err), 0);
	CHECK_STR(nsh_secrets_key_path(v), other);
	CHECK_INT(set(v, "VIA_ENV", "global", "env-keyed-value", &err), 0);
	CHECK(!nsh_fs_exists(kp)); /* the default file was not created */
	CHECK(has_value(v, "VIA_ENV", "global", "env-keyed-value"));
	nsh_secrets_close(v);

	/* Without the variable, the default key file (missing) cannot read it. */
	unsetenv(NSH_SECRETS_KEY_ENV);
	CHECK_INT(nsh_secrets_open(f.store, f.home, NULL, &v, &err), 0);
	CHECK_STR(nsh_secrets_key_path(v), kp);
	CHECK(!has_value(v, "VIA_ENV", "global", "env-keyed-value"));
	nsh_secrets_close(v);

	/* A named key file that does not exist is an error, never created. */
	setenv(NSH_SECRETS_KEY_ENV, missing, 1);
	CHECK_INT(nsh_secrets_open(f.store, f.home, NULL, &v, &err), 0);
	CHECK_INT(set(v, "OTHER", "global", "x-value", &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, missing) != NULL);
	CHECK(!nsh_fs_exists(missing));
	nsh_secrets_close(v);
	unsetenv(NSH_SECRETS_KEY_ENV);
	sodium_memzero(key, sizeof(key));
	fx_close(&f);
}

/* The value of @name in @env, or NULL. */
static const char *env_value(const struct nsh_secrets_env *env, const char *name)
{
	for (size_t i = 0; i < env->nr; i++)
		if (!strcmp(env->v[i].name, name))
			return env->v[i].value;
	return NULL;
}

static void test_scope_precedence(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secrets_env *env = NULL;

	fx_open(&f, "scopes");
	CHECK_INT(set(f.v, "TOKEN", "global", "tok-global", &err), 0);
	CHECK_INT(set(f.v, "TOKEN", "org:acme", "tok-org", &err), 0);
	CHECK_INT(set(f.v, "TOKEN", "repo:acme/api", "tok-repo", &err), 0);
	CHECK_INT(set(f.v, "TOKEN", "task:t-abc123", "tok-task", &err), 0);
	CHECK_INT(set(f.v, "ONLY_GLOBAL", "global", "g-only", &err), 0);
	CHECK_INT(set(f.v, "NPM_TOKEN", "org:other", "other-org", &err), 0);
	CHECK_INT(set(f.v, "A_REPO", "repo:acme/web", "web-only", &err), 0);

	CHECK_INT(nsh_secrets_for_scope(f.v, "acme", "acme/api", "t-abc123", &env, &err), 0);
	CHECK_INT(env->nr, 2);
	CHECK_STR(env_value(env, "TOKEN"), "tok-task");
	CHECK_STR(env_value(env, "ONLY_GLOBAL"), "g-only");
	CHECK(env_value(env, "NPM_TOKEN") == NULL);
	/* Sorted by name, ready for execve. */
	CHECK_STR(env->envp[0], "ONLY_GLOBAL=g-only");
	CHECK_STR(env->envp[1], "TOKEN=tok-task");
	CHECK(env->envp[2] == NULL);
	CHECK_STR(env->v[1].scope, "task:t-abc123");
	CHECK_INT(env->v[1].value_len, strlen("tok-task"));
	nsh_secrets_env_free(env);

	CHECK_INT(nsh_secrets_for_scope(f.v, "acme", "acme/api", NULL, &env, &err), 0);
	CHECK_STR(env_value(env, "TOKEN"), "tok-repo");
	nsh_secrets_env_free(env);
	/* The org comes from the repository when not given. */
	CHECK_INT(nsh_secrets_for_scope(f.v, NULL, "acme/web", NULL, &env, &err), 0);
	CHECK_INT(env->nr, 3);
	CHECK_STR(env_value(env, "TOKEN"), "tok-org");
	CHECK_STR(env_value(env, "A_REPO"), "web-only");
	nsh_secrets_env_free(env);
	CHECK_INT(nsh_secrets_for_scope(f.v, "other", NULL, NULL, &env, &err), 0);
	CHECK_STR(env_value(env, "TOKEN"), "tok-global");
	CHECK_STR(env_value(env, "NPM_TOKEN"), "other-org");
	nsh_secrets_env_free(env);
	CHECK_INT(nsh_secrets_for_scope(f.v, NULL, NULL, NULL, &env, &err), 0);
	CHECK_INT(env->nr, 2);
	CHECK_STR(env_value(env, "TOKEN"), "tok-global");
	nsh_secrets_env_free(env);
	/* A task of another job does not leak in. */
	CHECK_INT(nsh_secrets_for_scope(f.v, "acme", NULL, "t-999999", &env, &err), 0);
	CHECK_STR(env_value(env, "TOKEN"), "tok-org");
	nsh_secrets_env_free(env);

	env = NULL;
	CHECK_INT(nsh_secrets_for_scope(f.v, "other", "acme/api", NULL, &env, &err), NSH_EINVAL);
	CHECK(env == NULL);
	CHECK_INT(nsh_secrets_for_scope(f.v, NULL, "no-slash", NULL, &env, &err), NSH_EINVAL);
	CHECK_INT(nsh_secrets_for_scope(f.v, NULL, NULL, "bogus", &env, &err), NSH_EINVAL);
	fx_close(&f);
}

/* A job with no matching secrets needs no key at all. */
static void test_empty_scope_needs_no_key(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secrets_env *env = NULL;
	_nsh_cleanup_free_ char *kp = NULL;

	fx_open(&f, "nokey");
	kp = key_path(&f);
	CHECK_INT(nsh_secrets_for_scope(f.v, "acme", NULL, NULL, &env, &err), 0);
	CHECK(env && env->nr == 0 && env->envp[0] == NULL);
	CHECK(!nsh_fs_exists(kp));
	nsh_secrets_env_free(env);
	fx_close(&f);
}

static void test_list_has_no_values(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secret_list l = {0};

	fx_open(&f, "list");
	CHECK_INT(set(f.v, "LIST_ME", "org:acme", "list-canary-1f2e3d", &err), 0);
	CHECK_INT(set(f.v, "AND_ME", "global", "list-canary-4c5b6a", &err), 0);
	CHECK_INT(nsh_secrets_list(f.v, &l, &err), 0);
	CHECK_INT(l.nr, 2);
	for (size_t i = 0; i < l.nr; i++) {
		CHECK(!strstr(l.v[i].name, "canary") && !strstr(l.v[i].scope, "canary"));
		CHECK(l.v[i].created_ms > 0 && l.v[i].updated_ms >= l.v[i].created_ms);
	}
	if (l.nr == 2) {
		CHECK_STR(l.v[0].name, "AND_ME");
		CHECK_STR(l.v[0].scope, "global");
		CHECK_STR(l.v[1].name, "LIST_ME");
		CHECK_STR(l.v[1].scope, "org:acme");
	}
	nsh_secret_list_release(&l);
	fx_close(&f);
}

/* The raw bytes of a value never reach the database or its WAL. */
static void test_no_plaintext_on_disk(void)
{
	static const char canary[] = "CANARY-d3adb33f-9c1e-plaintext-must-not-hit-disk";
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf db = NSH_BUF_INIT, wal = NSH_BUF_INIT;
	_nsh_cleanup_free_ char *wal_path = NULL;

	fx_open(&f, "disk");
	wal_path = nsh_xasprintf("%s-wal", f.db);
	CHECK_INT(set(f.v, "CANARY_SECRET_NAME", "global", canary, &err), 0);
	CHECK_INT(set(f.v, "CANARY_SECRET_NAME", "org:acme", canary, &err), 0);

	/* While the store is open, the rows sit in the WAL. */
	slurp(f.db, &db);
	slurp(wal_path, &wal);
	CHECK(wal.len > 0);
	/* The check can see what is there: the name is stored in clear. */
	CHECK(memmem(db.buf, db.len, "CANARY_SECRET_NAME", 18) ||
	      memmem(wal.buf, wal.len, "CANARY_SECRET_NAME", 18));
	CHECK(!memmem(db.buf, db.len, canary, strlen(canary)));
	CHECK(!memmem(wal.buf, wal.len, canary, strlen(canary)));
	CHECK(!memmem(db.buf, db.len, "d3adb33f", 8) && !memmem(wal.buf, wal.len, "d3adb33f", 8));

	/* And after a checkpoint into the main file. */
	nsh_secrets_close(f.v);
	nsh_store_close(f.store);
	f.v = NULL;
	f.store = NULL;
	slurp(f.db, &db);
	CHECK(memmem(db.buf, db.len, "CANARY_SECRET_NAME", 18) != NULL);
	CHECK(!memmem(db.buf, db.len, canary, strlen(canary)));
	nsh_buf_release(&db);
	nsh_buf_release(&wal);
	fx_close(&f);
}

/* The secrets of a job feed a redactor directly. */
static void test_env_to_redactor(void)
{
	struct fixture f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secrets_env *env = NULL;
	struct nsh_redactor *r = NULL;
	struct nsh_buf out = NSH_BUF_INIT;
	const char *log = "push with token tok-abcdef123 failed";

	fx_open(&f, "redact");
	CHECK_INT(set(f.v, "PUSH_TOKEN", "global", "tok-abcdef123", &err), 0);
	CHECK_INT(nsh_secrets_for_scope(f.v, NULL, NULL, NULL, &env, &err), 0);
	CHECK_INT(nsh_redactor_from_env(env, &r, &err), 0);
	CHECK_INT(nsh_redact_buf(r, log, strlen(log), &out, &err), 0);
	CHECK_STR(out.buf, "push with token [secret:PUSH_TOKEN] failed");
	nsh_redactor_free(r);
	nsh_secrets_env_free(env);
	nsh_buf_release(&out);
	fx_close(&f);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	unsetenv(NSH_SECRETS_KEY_ENV);
	dir = t_tmpdir();
	RUN(test_round_trip);
	RUN(test_validation);
	RUN(test_additional_data);
	RUN(test_tampered);
	RUN(test_wrong_key);
	RUN(test_key_created);
	RUN(test_key_refused);
	RUN(test_key_env);
	RUN(test_scope_precedence);
	RUN(test_empty_scope_needs_no_key);
	RUN(test_list_has_no_values);
	RUN(test_no_plaintext_on_disk);
	RUN(test_env_to_redactor);
	/* Again on a PostgreSQL store, but the checks that edit or read SQLite's file. */
	CHECK(pgs_start() >= 0);
	if (pgs_url) {
		RUN(test_round_trip);
		RUN(test_validation);
		RUN(test_wrong_key);
		RUN(test_key_created);
		RUN(test_key_refused);
		RUN(test_key_env);
		RUN(test_scope_precedence);
		RUN(test_empty_scope_needs_no_key);
		RUN(test_list_has_no_values);
		RUN(test_env_to_redactor);
	}
	pgs_stop();
	nsh_fs_remove_tree(dir, &err);
	free(dir);
	return TEST_DONE();
}
