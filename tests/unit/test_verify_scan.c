/*
 * Tests for the scanners of verify, on diffs that real git makes from
 * files written here: planted secrets and SQL injections with their exact
 * file:line, look-alikes that must not be flagged, every test-weakening
 * pattern and an honest change. Secret-shaped values are made at run time
 * (this file holds none that a scanner would flag).
 */
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "forge/git.h"
#include "test.h"

#include "core/banned.h"

static char *dir;

/* ---- a scratch repository ---- */

static void repo_new(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	nsh_fs_remove_tree(dir, &err);
	nsh_fs_mkdir_p(dir, 0755, &err);
	CHECK_INT(nsh_git(dir, NULL, &err, "init", "-q", "-b", "main", NULL), 0);
}

static void put(const char *rel, const char *text)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);
	char *d = nsh_xstrdup(p);
	struct nsh_err err = NSH_ERR_INIT;

	*strrchr(d, '/') = '\0';
	nsh_fs_mkdir_p(d, 0755, &err);
	CHECK_INT(nsh_fs_write_atomic(p, text, strlen(text), 0644, &err), 0);
	free(d);
	free(p);
}

static void rm(const char *rel)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);

	CHECK_INT(remove(p), 0);
	free(p);
}

static void commit(const char *msg)
{
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_git(dir, NULL, &err, "add", "-A", NULL), 0);
	CHECK_INT(nsh_git(dir, NULL, &err, "commit", "-q", "--allow-empty", "-m", msg, NULL), 0);
}

/* git's diff of @base..HEAD (NULL: everything since the empty tree), parsed. */
static void diff_of(const char *base, struct nsh_verify_diff *d)
{
	struct nsh_buf out = NSH_BUF_INIT, empty = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	if (!base) {
		CHECK_INT(
			nsh_git(dir, &empty, &err, "hash-object", "-t", "tree", "/dev/null", NULL),
			0);
		nsh_buf_trim(&empty);
		base = empty.buf;
	}
	CHECK_INT(nsh_git(dir, &out, &err, "diff", "--no-color", "--find-renames", base, "HEAD",
			  NULL),
		  0);
	memset(d, 0, sizeof(*d));
	nsh_verify_diff_parse(&out, d);
	nsh_buf_release(&out);
	nsh_buf_release(&empty);
}

/* ---- expectations: file, line, rule ---- */

struct want {
	const char *file;
	int line;
	const char *rule;
};

static bool found(const struct nsh_verify_findings *f, const struct want *w)
{
	for (size_t i = 0; i < f->nr; i++)
		if (f->v[i].file && !strcmp(f->v[i].file, w->file) && f->v[i].line == w->line &&
		    f->v[i].rule && !strcmp(f->v[i].rule, w->rule))
			return true;
	return false;
}

/* Every expectation is found, and nothing else. */
static void expect_exactly(const struct nsh_verify_findings *f, const struct want *w, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (!found(f, &w[k]))
			fprintf(stderr, "  missing: %s:%d %s\n", w[k].file, w[k].line, w[k].rule);
		CHECK(found(f, &w[k]));
	}
	for (size_t i = 0; i < f->nr; i++) {
		bool expected = false;

		for (size_t k = 0; k < n; k++)
			expected |= f->v[i].file && !strcmp(f->v[i].file, w[k].file) &&
				    f->v[i].line == w[k].line;
		if (!expected)
			fprintf(stderr, "  unexpected: %s:%d %s %s\n",
				f->v[i].file ? f->v[i].file : "-", f->v[i].line,
				f->v[i].rule ? f->v[i].rule : "-", f->v[i].message);
		CHECK(expected);
	}
	CHECK_INT(f->nr, n);
}

/* ---- secrets ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* Every string rnd() made, freed at the end. */
static char *pool[256];
static int npool;

/* @n characters of @alphabet, deterministic. */
static char *rnd(const char *alphabet, size_t n)
{
	size_t m = strlen(alphabet);
	char *s = nsh_xmalloc(n + 1);

	if (npool < 256)
		pool[npool++] = s;
	for (size_t i = 0; i < n; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		s[i] = alphabet[(rng >> 11) % m];
	}
	s[n] = '\0';
	return s;
}

#define UPPERDIG "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define ALNUM	 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define DIGITS	 "0123456789"

/* Values planted, to check that no finding shows one. */
static char *kept[64];
static int nkept;

static char *keep(char *s)
{
	kept[nkept++] = s;
	return s;
}

/* A file of lines; the lines that hold a planted secret are expected with their rule. */
struct planted {
	struct nsh_buf text;
	int line;
};

static void line(struct planted *p, struct want *w, size_t *nw, const char *file, const char *rule,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void line(struct planted *p, struct want *w, size_t *nw, const char *file, const char *rule,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nsh_buf_vaddf(&p->text, fmt, ap);
	va_end(ap);
	nsh_buf_addch(&p->text, '\n');
	p->line++;
	if (rule)
		w[(*nw)++] = (struct want){file, p->line, rule};
}

static void test_secrets(void)
{
	struct want w[64];
	size_t nw = 0, planted = 0, lookalikes = 0;
	struct planted p = {NSH_BUF_INIT, 0};
	struct nsh_verify_diff d;
	struct nsh_verify_findings f = {0};
	bool leaked = false;

#define FILE_DONE(name)   \
 do {                     \
  put(name, p.text.buf);  \
  nsh_buf_reset(&p.text); \
  p.line = 0;             \
 } while (0)

	repo_new();
	/* src/config.js: tokens of every provider, generic assignments, look-alikes */
	line(&p, w, &nw, "src/config.js", NULL, "// configuration");
	line(&p, w, &nw, "src/config.js", "aws-access-key", "const awsId = 'AKIA%s';",
	     keep(rnd(UPPERDIG, 16)));
	line(&p, w, &nw, "src/config.js", "aws-access-key", "const stsId = \"ASIA%s\";",
	     keep(rnd(UPPERDIG, 16)));
	line(&p, w, &nw, "src/config.js", "github-token", "const gh = 'gh%s_%s';", "p",
	     keep(rnd(ALNUM, 36)));
	line(&p, w, &nw, "src/config.js", "github-token", "fetch(url, {auth: 'gh%s_%s'});", "s",
	     keep(rnd(ALNUM, 36)));
	line(&p, w, &nw, "src/config.js", "github-fine-grained-token",
	     "const pat = 'github_%s_%s_%s';", "pat", keep(rnd(ALNUM, 22)), keep(rnd(ALNUM, 59)));
	line(&p, w, &nw, "src/config.js", "slack-token", "const slack = 'xo%s-%s-%s-%s';", "xb",
	     keep(rnd(DIGITS, 12)), keep(rnd(DIGITS, 13)), keep(rnd(ALNUM, 24)));
	line(&p, w, &nw, "src/config.js", "slack-token", "hooks.user = 'xo%s-%s-%s-%s';", "xp",
	     keep(rnd(DIGITS, 11)), keep(rnd(DIGITS, 12)), keep(rnd(ALNUM, 32)));
	line(&p, w, &nw, "src/config.js", "slack-webhook",
	     "const hook = 'https://hooks.%s.com/services/T%s/B%s/%s';", "slack",
	     keep(rnd(UPPERDIG, 9)), keep(rnd(UPPERDIG, 9)), keep(rnd(ALNUM, 24)));
	line(&p, w, &nw, "src/config.js", "stripe-key", "stripe(\"%s_live_%s\");", "sk",
	     keep(rnd(ALNUM, 24)));
	line(&p, w, &nw, "src/config.js", "stripe-key", "const restricted = '%s_test_%s';", "rk",
	     keep(rnd(ALNUM, 30)));
	line(&p, w, &nw, "src/config.js", "generic-secret", "const API_KEY = \"%s\";",
	     keep(rnd(ALNUM, 32)));
	line(&p, w, &nw, "src/config.js", "password", "let dbPassword = 'Tr0ub4dor&3-%s';",
	     keep(rnd(ALNUM, 4)));
	/* look-alikes */
	line(&p, w, &nw, "src/config.js", NULL, "const docs = 'AKIAIOSFODNN7EXAMPLE';");
	line(&p, w, &nw, "src/config.js", NULL, "const shortId = 'AKIA%s';", rnd(UPPERDIG, 15));
	line(&p, w, &nw, "src/config.js", NULL, "const almost = 'gh%s_%s';", "p", rnd(ALNUM, 35));
	line(&p, w, &nw, "src/config.js", NULL, "const filler = 'gh%s_%s';", "p",
	     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	line(&p, w, &nw, "src/config.js", NULL, "const publishable = 'pk_live_%s';",
	     rnd(ALNUM, 24));
	line(&p, w, &nw, "src/config.js", NULL, "const tooShort = 'sk_live_%s';", rnd(ALNUM, 10));
	line(&p, w, &nw, "src/config.js", NULL, "const slackDoc = 'xoxb-your-token-here';");
	line(&p, w, &nw, "src/config.js", NULL, "const API_KEY2 = process.env.API_KEY;");
	line(&p, w, &nw, "src/config.js", NULL, "const token = getToken(user);");
	line(&p, w, &nw, "src/config.js", NULL, "const publicKey = '%s';", rnd(ALNUM, 44));
	line(&p, w, &nw, "src/config.js", NULL, "const PRIMARY_KEY = 'id';");
	line(&p, w, &nw, "src/config.js", NULL, "const sort_key = 'created_at_desc_order';");
	line(&p, w, &nw, "src/config.js", NULL, "// set API_KEY in your environment first");
	line(&p, w, &nw, "src/config.js", NULL, "if (password === 'Tr0ub4dor&3-abcd') {}");
	FILE_DONE("src/config.js");
	/* a PEM key and its public look-alikes */
	line(&p, w, &nw, "deploy/key.pem", "private-key", "-----BEGIN RSA PRIVATE KEY-----");
	line(&p, w, &nw, "deploy/key.pem", NULL, "%s", rnd(ALNUM, 64));
	line(&p, w, &nw, "deploy/key.pem", NULL, "-----END RSA PRIVATE KEY-----");
	line(&p, w, &nw, "deploy/key.pem", "private-key", "-----BEGIN OPENSSH PRIVATE KEY-----");
	line(&p, w, &nw, "deploy/key.pem", NULL, "-----END OPENSSH PRIVATE KEY-----");
	line(&p, w, &nw, "deploy/key.pem", NULL, "-----BEGIN PUBLIC KEY-----");
	line(&p, w, &nw, "deploy/key.pem", NULL, "-----BEGIN CERTIFICATE-----");
	FILE_DONE("deploy/key.pem");
	/* env, YAML, JSON, Python, Go, Java, TypeScript assignments */
	line(&p, w, &nw, ".env", "generic-secret", "AUTH_TOKEN=%s", keep(rnd(ALNUM, 40)));
	line(&p, w, &nw, ".env", "password", "DB_PASSWORD=S3cure-Pa55w0rd-%s", keep(rnd(ALNUM, 3)));
	line(&p, w, &nw, ".env", NULL, "DB_PASSWORD_HINT=ask-the-team");
	line(&p, w, &nw, ".env", NULL, "API_KEY=${API_KEY}");
	line(&p, w, &nw, ".env", NULL, "PASSWORD=changeme");
	FILE_DONE(".env");
	line(&p, w, &nw, "config/app.yml", "generic-secret", "client_secret: %s",
	     keep(rnd(ALNUM, 36)));
	line(&p, w, &nw, "config/app.yml", "password", "password: \"Xk9-%s!\"",
	     keep(rnd(ALNUM, 8)));
	line(&p, w, &nw, "config/app.yml", NULL, "token: ${{ secrets.GITHUB_TOKEN }}");
	line(&p, w, &nw, "config/app.yml", NULL, "api_key: <your-api-key>");
	line(&p, w, &nw, "config/app.yml", NULL, "next_page_token: %s", rnd(ALNUM, 30));
	FILE_DONE("config/app.yml");
	line(&p, w, &nw, "settings.json", "generic-secret", "{\"apiKey\": \"%s\",",
	     keep(rnd(ALNUM, 28)));
	line(&p, w, &nw, "settings.json", NULL, " \"integrity\": \"sha512-%s\",", rnd(ALNUM, 60));
	line(&p, w, &nw, "settings.json", NULL, " \"password\": \"\"}");
	FILE_DONE("settings.json");
	line(&p, w, &nw, "app/settings.py", "generic-secret", "SECRET_KEY = '%s'",
	     keep(rnd(ALNUM, 50)));
	line(&p, w, &nw, "app/settings.py", NULL, "API_KEY = os.environ[\"API_KEY\"]");
	line(&p, w, &nw, "app/settings.py", NULL, "SECRET_KEY2 = 'your-secret-key-here-please'");
	line(&p, w, &nw, "app/settings.py", NULL, "expected_hash = '%s'",
	     rnd("0123456789abcdef", 64));
	FILE_DONE("app/settings.py");
	line(&p, w, &nw, "main.go", "generic-secret", "\tapiToken := \"%s\"", keep(rnd(ALNUM, 32)));
	line(&p, w, &nw, "main.go", NULL, "\tsessionToken := uuid.New()");
	FILE_DONE("main.go");
	line(&p, w, &nw, "Config.java", "generic-secret",
	     "  private static final String DB_SECRET = \"%s\";", keep(rnd(ALNUM, 24)));
	FILE_DONE("Config.java");
	line(&p, w, &nw, "src/client.ts", "generic-secret", "const accessToken: string = '%s';",
	     keep(rnd(ALNUM, 40)));
	FILE_DONE("src/client.ts");
	commit("planted secrets");
	diff_of(NULL, &d);
	nsh_verify_scan_secrets(&d, NULL, &f);
	expect_exactly(&f, w, nw);
	planted = nw;
	lookalikes = 28;
	fprintf(stderr, "  %zu planted secrets, %zu look-alikes\n", planted, lookalikes);
	CHECK(planted >= 20);
	/* no value in any finding, and every excerpt masks it */
	for (size_t i = 0; i < f.nr; i++)
		for (int k = 0; k < nkept; k++)
			if (strstr(f.v[i].message, kept[k]) ||
			    (f.v[i].excerpt && strstr(f.v[i].excerpt, kept[k])))
				leaked = true;
	CHECK(!leaked);
	{
		const struct want aws = {"src/config.js", 2, "aws-access-key"};

		for (size_t i = 0; i < f.nr; i++)
			if (found(&(struct nsh_verify_findings){&f.v[i], 1, 1, false}, &aws)) {
				CHECK_STR(f.v[i].excerpt, "const awsId = '[redacted]';");
				CHECK(strstr(f.v[i].message, "fingerprint ") != NULL);
			}
	}

	/* the allowlist: by path, by rule, by fingerprint */
	{
		struct nsh_verify_allow allow = {0};
		struct nsh_verify_findings g = {0};
		struct nsh_verify_allow_entry e[3] = {
			{.path = nsh_xstrdup("deploy/*")},
			{.rule = nsh_xstrdup("stripe-key"), .path = nsh_xstrdup("src/*")},
			{.fingerprint = NULL},
		};
		const char *fp = NULL;

		for (size_t i = 0; i < f.nr; i++)
			if (!strcmp(f.v[i].file, "main.go"))
				fp = strstr(f.v[i].message, "fingerprint ");
		CHECK(fp != NULL);
		e[2].fingerprint = nsh_xmemdup(fp + 12, 12);
		allow.v = e;
		allow.nr = allow.alloc = 3;
		nsh_verify_scan_secrets(&d, &allow, &g);
		CHECK_INT(g.nr, f.nr - 2 - 2 - 1);
		for (size_t i = 0; i < g.nr; i++) {
			CHECK(strcmp(g.v[i].file, "deploy/key.pem") != 0);
			CHECK(strcmp(g.v[i].file, "main.go") != 0);
			CHECK(strcmp(g.v[i].rule, "stripe-key") != 0);
		}
		for (int k = 0; k < 3; k++) {
			free(e[k].path);
			free(e[k].rule);
			free(e[k].fingerprint);
		}
		nsh_verify_findings_release(&g);
	}
	nsh_verify_findings_release(&f);
	nsh_verify_diff_release(&d);

	/* commit messages and PR bodies are scanned line by line */
	{
		char *body = nsh_xasprintf("Fixes the deploy.\n\nUse token gh%s_%s for the bot.\n",
					   "p", keep(rnd(ALNUM, 36)));

		nsh_verify_scan_secrets_text(body, strlen(body), "pr-body", NULL, &f);
		CHECK_INT(f.nr, 1);
		CHECK(f.nr && !strcmp(f.v[0].file, "pr-body") && f.v[0].line == 3);
		CHECK(f.nr && f.v[0].excerpt && !strstr(f.v[0].excerpt, kept[nkept - 1]));
		nsh_verify_findings_release(&f);
		free(body);
	}
	for (int k = 0; k < npool; k++)
		free(pool[k]);
	nsh_buf_release(&p.text);
#undef FILE_DONE
}

/* ---- SQL injection ---- */

static void test_sqli(void)
{
	struct want w[] = {
		{"src/db.js", 1, "sqli-concat"},	 {"src/db.js", 2, "sqli-interpolation"},
		{"src/db.js", 3, "sqli-interpolation"},	 {"src/db.js", 4, "sqli-concat"},
		{"src/db.js", 6, "sqli-concat"},	 {"src/db.js", 7, "sqli-format"},
		{"src/db.js", 8, "sqli-concat"},	 {"src/db.js", 9, "sqli-concat"},
		{"src/db.js", 12, "sqli-interpolation"}, {"src/db.js", 13, "sqli-interpolation"},
		{"app/repo.py", 1, "sqli-format"},	 {"app/repo.py", 2, "sqli-interpolation"},
		{"app/repo.py", 3, "sqli-format"},	 {"app/repo.py", 4, "sqli-concat"},
		{"app/repo.py", 6, "sqli-concat"},	 {"app/repo.py", 8, "sqli-concat"},
		{"store.go", 2, "sqli-format"},		 {"store.go", 3, "sqli-concat"},
		{"store.go", 4, "sqli-concat"},		 {"store.go", 6, "sqli-format"},
		{"Dao.java", 1, "sqli-concat"},		 {"Dao.java", 3, "sqli-concat"},
		{"Dao.java", 4, "sqli-concat"},		 {"Dao.java", 5, "sqli-format"},
	};
	struct nsh_verify_diff d;
	struct nsh_verify_findings f = {0};

	repo_new();
	put("src/db.js",
	    "db.query(\"SELECT * FROM users WHERE id = \" + req.params.id);\n"
	    "pool.query(`SELECT * FROM orders WHERE user = '${userId}'`);\n"
	    "knex.raw(`DELETE FROM sessions WHERE token = '${token}'`);\n"
	    "sequelize.query(\"UPDATE accounts SET balance = \" + amount + \" WHERE id = \" + id);\n"
	    "const sql = \"SELECT name FROM users WHERE email = '\" + email + \"'\";\n"
	    "connection.query(sql, cb);\n"
	    "client.query(util.format(\"SELECT * FROM t WHERE a = '%s'\", a));\n"
	    "knex('users').whereRaw(\"name = '\" + name + \"'\");\n"
	    "await db.query(\n"
	    "  \"SELECT * FROM items WHERE owner = \" + owner\n"
	    ");\n"
	    "const rows = await this.db.execute(`SELECT * FROM t WHERE id = ${id}`);\n"
	    "prisma.$queryRawUnsafe(`SELECT * FROM users WHERE email = '${email}'`);\n"
	    /* look-alikes */
	    "db.query('SELECT * FROM users WHERE id = $1', [req.params.id]);\n"
	    "pool.query(`SELECT * FROM orders`);\n"
	    "knex.raw('select * from users where id = ?', [id]);\n"
	    "sequelize.query('SELECT * FROM t WHERE a = :a', { replacements: { a } });\n"
	    "console.log(\"SELECT * FROM users WHERE id = \" + id);\n"
	    "db.query(sql`SELECT * FROM users WHERE id = ${id}`);\n"
	    "db.query({ text: 'SELECT * FROM t WHERE id = $1', values: [id] });\n"
	    "db.query(\"SELECT * FROM \" + TABLE_NAME + \" WHERE id = $1\", [id]);\n"
	    "knex('users').where('name', name);\n"
	    "const label = 'Total: ' + count;\n"
	    "db.query(label2, [label]);\n");
	put("app/repo.py", "cursor.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)\n"
			   "cursor.execute(f\"DELETE FROM t WHERE id = {tid}\")\n"
			   "cur.execute(\"SELECT * FROM t WHERE a = '{}'\".format(a))\n"
			   "conn.execute(\"INSERT INTO logs VALUES ('\" + msg + \"')\")\n"
			   "query = \"SELECT * FROM users WHERE id = \" + str(uid)\n"
			   "cursor.execute(query)\n"
			   "sql = \"SELECT * FROM t\"\n"
			   "cursor.execute(sql + \" WHERE name = '\" + name + \"'\")\n"
			   /* look-alikes */
			   "cursor.execute(\"SELECT * FROM users WHERE name = %s\", (name,))\n"
			   "cursor.execute(\"SELECT * FROM t WHERE id = %(id)s\", {\"id\": tid})\n"
			   "logger.info(f\"SELECT took {elapsed}ms\")\n"
			   "cursor.execute(f\"SELECT * FROM users\")\n"
			   "query2 = \"SELECT * FROM users WHERE id = %s\"\n"
			   "cursor.execute(query2, (uid,))\n"
			   "executor.execute(task + suffix)\n");
	put("store.go", "func find(db *sql.DB, name, id string) {\n"
			"\tdb.Query(fmt.Sprintf(\"SELECT * FROM users WHERE name = '%s'\", name))\n"
			"\tdb.Exec(\"DELETE FROM sessions WHERE id = \" + id)\n"
			"\tdb.QueryRowContext(ctx, \"SELECT email FROM users WHERE id = \" + id)\n"
			"\tq := fmt.Sprintf(\"UPDATE t SET a = '%s'\", name)\n"
			"\t_, err := db.Exec(q)\n"
			/* look-alikes */
			"\tdb.Query(\"SELECT * FROM users WHERE name = $1\", name)\n"
			"\tdb.QueryRowContext(ctx, \"SELECT email FROM users WHERE id = ?\", id)\n"
			"\tlog.Printf(\"SELECT %s\", name)\n"
			"\tmsg := fmt.Sprintf(\"deleted %d rows\", n)\n"
			"\tdb.Exec(\"DELETE FROM t WHERE id = $1\", msg)\n"
			"}\n");
	put("Dao.java",
	    "stmt.executeQuery(\"SELECT * FROM users WHERE name = '\" + name + \"'\");\n"
	    "String sql = \"DELETE FROM orders WHERE id = \" + orderId;\n"
	    "statement.executeUpdate(sql);\n"
	    "conn.prepareStatement(\"SELECT * FROM t WHERE a = \" + a);\n"
	    "stmt.execute(String.format(\"DROP TABLE %s\", table));\n"
	    /* look-alikes */
	    "PreparedStatement ps = conn.prepareStatement(\"SELECT * FROM users WHERE name = ?\");\n"
	    "ps.setString(1, \"prefix\" + name);\n"
	    "stmt.executeQuery(FIND_ALL_USERS);\n"
	    "System.out.println(\"SELECT * FROM t WHERE a = \" + a);\n"
	    "String sql2 = \"SELECT * FROM users WHERE id = ?\";\n"
	    "stmt = conn.prepareStatement(sql2);\n");
	put("README.md", "db.query(\"SELECT * FROM users WHERE id = \" + id) is wrong\n");
	commit("planted injections");
	diff_of(NULL, &d);
	nsh_verify_scan_sqli(&d, NULL, &f);
	expect_exactly(&f, w, sizeof(w) / sizeof(w[0]));
	fprintf(stderr, "  %zu planted injections, 29 look-alikes\n", sizeof(w) / sizeof(w[0]));
	for (size_t i = 0; i < f.nr; i++)
		if (!strcmp(f.v[i].file, "src/db.js") && f.v[i].line == 6)
			CHECK(strstr(f.v[i].message, "'sql'") && strstr(f.v[i].message, "line 5"));
	nsh_verify_findings_release(&f);
	nsh_verify_diff_release(&d);

	/* only changed code counts: an old injection next to a change is not reported */
	{
		struct nsh_buf base = NSH_BUF_INIT;
		struct nsh_err err = NSH_ERR_INIT;

		nsh_git(dir, &base, &err, "rev-parse", "HEAD", NULL);
		nsh_buf_trim(&base);
		put("Dao.java",
		    "stmt.executeQuery(\"SELECT * FROM users WHERE name = '\" + name + \"'\");\n"
		    "String sql = \"DELETE FROM orders WHERE id = \" + orderId;\n"
		    "statement.executeUpdate(sql);\n"
		    "conn.prepareStatement(\"SELECT * FROM t WHERE a = \" + a);\n"
		    "stmt.execute(String.format(\"DROP TABLE %s\", table));\n"
		    "log.info(\"changed\");\n");
		put("app/repo.py", "cursor.execute(\"SELECT 1 FROM t WHERE id = %s\", (i,))\n"
				   "q = \"SELECT * FROM t WHERE id = \" + i\n"
				   "cursor.execute(q)\n");
		commit("a change next to old injections");
		diff_of(base.buf, &d);
		nsh_verify_scan_sqli(&d, NULL, &f);
		/* Dao.java: nothing new; repo.py: the rewritten file is new code */
		for (size_t i = 0; i < f.nr; i++)
			CHECK(strcmp(f.v[i].file, "Dao.java") != 0);
		CHECK_INT(f.nr, 1);
		CHECK(f.nr && !strcmp(f.v[0].file, "app/repo.py") && f.v[0].line == 3);
		nsh_verify_findings_release(&f);
		nsh_verify_diff_release(&d);
		nsh_buf_release(&base);
	}
}

/* ---- test integrity ---- */

static char *head_sha(void)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	nsh_git(dir, &b, &err, "rev-parse", "HEAD", NULL);
	nsh_buf_trim(&b);
	return nsh_buf_detach(&b, NULL);
}

static const char js_test[] = "const test = require('node:test');\n"
			      "const assert = require('node:assert');\n"
			      "const { total } = require('../src/total');\n"
			      "\n"
			      "test('adds', () => {\n"
			      "  assert.strictEqual(total([1, 2]), 3);\n"
			      "  assert.ok(total([]) === 0);\n"
			      "});\n"
			      "\n"
			      "test('rounds', () => {\n"
			      "  assert.strictEqual(total([0.1, 0.2]), 0.3);\n"
			      "});\n";

static void base_repo(void)
{
	repo_new();
	put("src/total.js", "exports.total = (xs) => xs.reduce((a, b) => a + b, 0);\n");
	put("test/total.test.js", js_test);
	put("test/other.test.js", "require('node:test')('other', () => {});\n");
	put("tests/test_calc.py", "def test_add():\n    assert 1 + 1 == 2\n");
	put("calc_test.go", "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n"
			    "\tif 1+1 != 2 {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n");
	put("src/lib.rs",
	    "pub fn add(a: i32, b: i32) -> i32 { a + b }\n\n#[cfg(test)]\nmod tests {\n"
	    "    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 2), 3);\n"
	    "    }\n}\n");
	put("src/test/java/AppTest.java", "class AppTest {\n  @Test\n  void adds() {\n"
					  "    assertEquals(2, 1 + 1);\n  }\n}\n");
	put("jest.config.js", "module.exports = {\n  coverageThreshold: {\n    global: {\n"
			      "      lines: 90,\n      branches: 80,\n    },\n  },\n};\n");
	put(".coveragerc", "[report]\nfail_under = 85\n");
	put(".eslintrc.json", "{\n  \"rules\": {\n    \"no-unused-vars\": \"error\",\n"
			      "    \"eqeqeq\": \"error\",\n    \"semi\": \"warn\"\n  }\n}\n");
	put("tsconfig.json", "{\n  \"compilerOptions\": {\n    \"strict\": true\n  }\n}\n");
	put("setup.cfg", "[flake8]\nignore = E501\n");
	put("src/app.py", "import os\n\n\ndef main():\n    return os.getcwd()\n");
	commit("base");
}

/* Change the base repository with @fn, commit, and check integrity over the diff. */
static void weakening(const char *what, void (*fn)(void), const struct want *w, size_t n)
{
	struct nsh_verify_diff d;
	struct nsh_verify_findings f = {0};
	char *base;

	fprintf(stderr, "  %s\n", what);
	base_repo();
	base = head_sha();
	fn();
	commit(what);
	diff_of(base, &d);
	nsh_verify_check_integrity(&d, NULL, &f);
	expect_exactly(&f, w, n);
	nsh_verify_findings_release(&f);
	nsh_verify_diff_release(&d);
	free(base);
}

static void w_delete(void)
{
	rm("test/other.test.js");
}
static void w_skip(void)
{
	put("test/total.test.js", "const test = require('node:test');\n"
				  "const assert = require('node:assert');\n"
				  "const { total } = require('../src/total');\n"
				  "\n"
				  "test.skip('adds', () => {\n"
				  "  assert.strictEqual(total([1, 2]), 3);\n"
				  "  assert.ok(total([]) === 0);\n"
				  "});\n"
				  "\n"
				  "it.only('rounds', () => {\n"
				  "  assert.strictEqual(total([0.1, 0.2]), 0.3);\n"
				  "});\n"
				  "xit('later', () => {});\n");
}
static void w_skip_other_languages(void)
{
	put("tests/test_calc.py", "import pytest\n\n@pytest.mark.skip(reason=\"flaky\")\n"
				  "def test_add():\n    assert 1 + 1 == 2\n");
	put("calc_test.go", "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n"
			    "\tt.Skip(\"later\")\n\tif 1+1 != 2 {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n");
	put("src/lib.rs",
	    "pub fn add(a: i32, b: i32) -> i32 { a + b }\n\n#[cfg(test)]\nmod tests {\n"
	    "    #[test]\n    #[ignore]\n    fn adds() {\n"
	    "        assert_eq!(super::add(1, 2), 3);\n    }\n}\n");
	put("src/test/java/AppTest.java", "class AppTest {\n  @Test\n  @Disabled\n  void adds() {\n"
					  "    assertEquals(2, 1 + 1);\n  }\n}\n");
}
static void w_remove_test_and_assertion(void)
{
	put("test/total.test.js", "const test = require('node:test');\n"
				  "const assert = require('node:assert');\n"
				  "const { total } = require('../src/total');\n"
				  "\n"
				  "test('adds', () => {\n"
				  "  assert.strictEqual(total([1, 2]), 3);\n"
				  "});\n");
}
static void w_expected(void)
{
	put("src/total.js", "exports.total = (xs) => xs.reduce((a, b) => a + b, 1);\n");
	put("test/total.test.js", "const test = require('node:test');\n"
				  "const assert = require('node:assert');\n"
				  "const { total } = require('../src/total');\n"
				  "\n"
				  "test('adds', () => {\n"
				  "  assert.strictEqual(total([1, 2]), 4);\n"
				  "  assert.ok(total([]) === 1);\n"
				  "});\n"
				  "\n"
				  "test('rounds', () => {\n"
				  "  assert.strictEqual(total([0.1, 0.2]), 0.3);\n"
				  "});\n");
}
static void w_thresholds(void)
{
	put("jest.config.js", "module.exports = {\n  coverageThreshold: {\n    global: {\n"
			      "      lines: 70,\n      branches: 80,\n    },\n  },\n};\n");
	put(".coveragerc", "[report]\n");
}
static void w_lint(void)
{
	put(".eslintrc.json", "{\n  \"rules\": {\n    \"no-unused-vars\": \"off\",\n"
			      "    \"semi\": \"warn\"\n  }\n}\n");
	put("src/total.js", "// eslint-disable-next-line no-unused-vars\n"
			    "exports.total = (xs) => xs.reduce((a, b) => a + b, 0);\n");
	put("tsconfig.json", "{\n  \"compilerOptions\": {\n    \"strict\": false\n  }\n}\n");
	put("setup.cfg", "[flake8]\nignore = E501,F401\n");
	put("src/app.py", "import os  # noqa\n\n\ndef main():\n    return os.getcwd()\n");
}
static void w_honest(void)
{
	/* a new test file, a new test and assertion, a moved test, stricter rules, more coverage */
	put("test/extra.test.js", "const test = require('node:test');\n"
				  "const assert = require('node:assert');\n"
				  "test('extra', () => { assert.ok(true); });\n");
	put("test/total.test.js", "const test = require('node:test');\n"
				  "const assert = require('node:assert');\n"
				  "const { total } = require('../src/total');\n"
				  "\n"
				  "test('rounds', () => {\n"
				  "  assert.strictEqual(total([0.1, 0.2]), 0.3);\n"
				  "});\n"
				  "\n"
				  "test('adds', () => {\n"
				  "  assert.strictEqual(total([1, 2]), 3);\n"
				  "  assert.ok(total([]) === 0);\n"
				  "  assert.strictEqual(total([5]), 5);\n"
				  "});\n"
				  "\n"
				  "test('negative', () => {\n"
				  "  assert.strictEqual(total([-1, 1]), 0);\n"
				  "});\n");
	put("src/total.js", "// sums numbers\n"
			    "exports.total = (xs) => xs.reduce((a, b) => a + b, 0);\n");
	put(".eslintrc.json", "{\n  \"rules\": {\n    \"no-unused-vars\": \"error\",\n"
			      "    \"eqeqeq\": \"error\",\n    \"semi\": \"error\",\n"
			      "    \"no-var\": \"error\"\n  }\n}\n");
	put("jest.config.js", "module.exports = {\n  coverageThreshold: {\n    global: {\n"
			      "      lines: 95,\n      branches: 80,\n    },\n  },\n};\n");
	put("tests/test_calc.py", "def test_add():\n    assert 1 + 1 == 2\n\n\n"
				  "def test_sub():\n    assert 2 - 1 == 1\n");
}

static void test_integrity(void)
{
	static const struct want deleted[] = {{"test/other.test.js", 0, "test-file-deleted"}};
	static const struct want skipped[] = {{"test/total.test.js", 5, "test-skipped"},
					      {"test/total.test.js", 10, "test-skipped"},
					      {"test/total.test.js", 13, "test-skipped"}};
	static const struct want skipped2[] = {{"tests/test_calc.py", 3, "test-skipped"},
					       {"calc_test.go", 6, "test-skipped"},
					       {"src/lib.rs", 6, "test-skipped"},
					       {"src/test/java/AppTest.java", 3, "test-skipped"}};
	static const struct want removed[] = {{"test/total.test.js", 7, "assertion-removed"},
					      {"test/total.test.js", 10, "test-removed"},
					      {"test/total.test.js", 11, "assertion-removed"}};
	static const struct want expected[] = {{"test/total.test.js", 6, "expected-value-changed"},
					       {"test/total.test.js", 7, "expected-value-changed"}};
	static const struct want thresholds[] = {
		{"jest.config.js", 4, "coverage-threshold-lowered"},
		{".coveragerc", 2, "coverage-threshold-lowered"}};
	static const struct want lint[] = {{".eslintrc.json", 3, "lint-rule-loosened"},
					   {".eslintrc.json", 4, "lint-rule-loosened"},
					   {"src/total.js", 1, "lint-rule-loosened"},
					   {"tsconfig.json", 3, "lint-rule-loosened"},
					   {"setup.cfg", 2, "lint-rule-loosened"},
					   {"src/app.py", 1, "lint-rule-loosened"}};

	weakening("a test file deleted", w_delete, deleted, 1);
	weakening("tests skipped and focused (JavaScript)", w_skip, skipped, 3);
	weakening("tests skipped (Python, Go, Rust, Java)", w_skip_other_languages, skipped2, 4);
	weakening("a test and assertions removed", w_remove_test_and_assertion, removed, 3);
	weakening("expected values changed with the code", w_expected, expected, 2);
	weakening("coverage thresholds lowered and removed", w_thresholds, thresholds, 2);
	weakening("lint rules loosened and suppressed", w_lint, lint, 6);
	weakening("an honest change", w_honest, NULL, 0);
}

/* ---- the diff parser ---- */

static void test_diff_parse(void)
{
	static const char text[] = "diff --git a/old name.txt b/new name.txt\n"
				   "similarity index 80%\n"
				   "rename from old name.txt\n"
				   "rename to new name.txt\n"
				   "--- a/old name.txt\n"
				   "+++ b/new name.txt\n"
				   "@@ -1,3 +1,3 @@\n"
				   " keep\n"
				   "--- a line that starts with dashes\n"
				   "+++ a line that starts with pluses\n"
				   " tail\n"
				   "\\ No newline at end of file\n"
				   "diff --git \"a/t\\303\\251st\\tx\" \"b/t\\303\\251st\\tx\"\n"
				   "new file mode 100644\n"
				   "--- /dev/null\n"
				   "+++ \"b/t\\303\\251st\\tx\"\n"
				   "@@ -0,0 +1 @@\n"
				   "+hello\n"
				   "diff --git a/gone.bin b/gone.bin\n"
				   "deleted file mode 100644\n"
				   "Binary files a/gone.bin and /dev/null differ\n"
				   "diff --git a/m.c b/m.c\n"
				   "--- a/m.c\n"
				   "+++ b/m.c\n"
				   "@@ -10,2 +10,3 @@ int f(void)\n"
				   " a\n"
				   "+b\n"
				   " c\n"
				   "@@ -20 +21 @@\n"
				   "-x\n"
				   "+y\n";
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_verify_diff d = {0};

	nsh_buf_add(&b, text, sizeof(text) - 1);
	nsh_verify_diff_parse(&b, &d);
	CHECK_INT(d.nr, 4);
	if (d.nr == 4) {
		CHECK_INT(d.file[0].status, NSH_VERIFY_FILE_RENAMED);
		CHECK_STR(d.file[0].old_path, "old name.txt");
		CHECK_STR(d.file[0].new_path, "new name.txt");
		CHECK_INT(d.file[0].nr, 4);
		CHECK(d.file[0].nr == 4 && d.file[0].line[1].side == '-' &&
		      d.file[0].line[1].old_line == 2);
		CHECK(d.file[0].nr == 4 && d.file[0].line[2].side == '+' &&
		      d.file[0].line[2].new_line == 2);
		CHECK_INT(d.file[1].status, NSH_VERIFY_FILE_ADDED);
		CHECK_STR(d.file[1].new_path, "t\xc3\xa9st\tx");
		CHECK(d.file[1].old_path == NULL);
		CHECK_INT(d.file[2].status, NSH_VERIFY_FILE_DELETED);
		CHECK(d.file[2].binary && !d.file[2].new_path);
		CHECK_STR(nsh_verify_dfile_path(&d.file[2]), "gone.bin");
		CHECK_INT(d.file[3].nr, 5);
		CHECK(d.file[3].nr == 5 && d.file[3].line[1].new_line == 11);
		CHECK(d.file[3].nr == 5 && d.file[3].line[3].old_line == 20 &&
		      d.file[3].line[4].new_line == 21);
	}
	CHECK_INT(d.added, 4);
	CHECK_INT(d.removed, 2);
	nsh_verify_diff_release(&d);
	nsh_buf_release(&b);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	dir = t_tmpdir();
	RUN(test_diff_parse);
	RUN(test_secrets);
	RUN(test_sqli);
	RUN(test_integrity);
	nsh_fs_remove_tree(dir, &err);
	free(dir);
	return TEST_DONE();
}
