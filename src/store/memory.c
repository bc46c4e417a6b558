/*
 * The SQL of the memory tables (migration 7): memories, memory_scopes,
 * memory_sources, memory_uses, memory_conflicts and the full-text index
 * memories_fts. The memory module (src/memory/) decides what the rows
 * mean; this file only reads and writes them.
 *
 * memories_fts has two columns: the rule's text, and scope_terms, which
 * holds for each scope key of the rule and each word of its text one token
 * made of the key's token ("zo" and the hex of the org for "org:O", "zr"
 * and the hex of "O/R" for "repo:O/R"), "x" and the word. A query for the
 * words of a task's text in one org and repository then reads only the
 * doclists of those (scope, word) pairs, whatever the size of the table.
 * Its ranking function nsh_memory_tf() returns, for each hit, how often
 * each phrase of the query occurs in it; with each rule's length in tokens
 * (memories.rule_len, copied to memory_scopes, counted once with the
 * index's own tokenizer) the memory module turns these into BM25 scores over the
 * rules in scope (bm25() itself would count every phrase over the whole
 * table on each query, and asking FTS5 for the length is a lookup per hit).
 *
 * PostgreSQL (migration 15) has no FTS5: there scope_terms holds each
 * distinct (scope key, word) pair once, the word in hex as well
 * ("zo6163x7265747279" for "retry" in org "ac"), and the generated column memories.terms
 * turns it into a tsvector verbatim (array_to_tsvector(), no parser), with
 * a GIN index. A query ORs the tokens of its terms in its scopes, so only
 * ASCII letters and digits, never the user's bytes, reach the tsquery;
 * the occurrences of each term are counted in C in the text of each hit,
 * and rule_len with the same splitting (docs/store.md says where this
 * differs from FTS5's unicode61 tokenizer).
 */
#include "store/store.h"

#include <ctype.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "core/vec.h"
#include "store/store_int.h"

#include "core/banned.h"

#define MEM_COLS                                                                                \
 "m.id, m.rule, m.kind, m.recipe, m.choice, m.alt, m.rule_key, m.scope, m.scope_value, m.org, " \
 "m.repo, m.language, m.path_glob, m.state, m.source, m.uses, m.created_at, m.said_at, "        \
 "m.last_used_at, m.active_at, m.updated_at, m.expires_at, m.superseded_by, m.promoted_at, "    \
 "m.promoted_by, m.forgotten_at, m.forgotten_by"

/* max(active_at, ?2) for a NULL active_at too, in SQL both engines take */
#define LATER_ACTIVE "CASE WHEN coalesce(active_at, 0) > ?2 THEN active_at ELSE ?2 END"
static const char sql_insert[] =
	"INSERT INTO memories (rule, kind, recipe, choice, alt, rule_key, scope, scope_value, org, "
	"repo, language, path_glob, state, source, uses, created_at, said_at, last_used_at, "
	"active_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
	"?14, 0, ?15, ?15, NULL, ?15, ?15) RETURNING id";
static const char sql_scope_add[] =
	"INSERT INTO memory_scopes (key, memory_id) VALUES (?2, ?1) ON CONFLICT DO NOTHING";
static const char sql_scope_keys[] =
	"SELECT key FROM memory_scopes WHERE memory_id = ?1 ORDER BY key";
static const char sql_scope_clear[] = "DELETE FROM memory_scopes WHERE memory_id = ?1";
static const char sql_set_terms[] = "UPDATE memories SET scope_terms = ?2 WHERE id = ?1";
static const char sql_set_len[] = "UPDATE memories SET rule_len = ?2 WHERE id = ?1";
static const char sql_unmeasured[] =
	"SELECT id, rule FROM memories WHERE rule_len IS NULL ORDER BY id LIMIT 1000";
static const char sql_get[] = "SELECT " MEM_COLS " FROM memories m WHERE m.id = ?1";
static const char sql_list[] =
	"SELECT " MEM_COLS " FROM memories m WHERE (m.state = ?1 OR ?1 IS NULL) AND (m.scope = "
	"?2 OR ?2 IS NULL) AND (m.org = ?3 OR ?3 IS NULL) AND (m.id IN (SELECT memory_id FROM "
	"memory_scopes WHERE key IN ('repo:' || ?4, 'org:' || substr(?4, 1, instr(?4, '/') - "
	"1))) OR ?4 IS NULL) AND (m.kind = ?5 OR ?5 IS NULL) AND (?6 = 0 OR m.state IN "
	"('proposed', 'active')) ORDER BY m.id DESC LIMIT ?7 OFFSET ?8";
static const char sql_find_key[] =
	"SELECT " MEM_COLS " FROM memories m WHERE m.org = ?1 AND m.rule_key = ?2 AND m.state <> "
	"'forgotten' ORDER BY m.id DESC LIMIT 1";
static const char sql_rivals[] =
	"SELECT " MEM_COLS " FROM memories m WHERE m.org = ?1 AND m.recipe = ?2 AND m.choice = ?3 "
	"AND m.state = 'active' AND m.kind = 'preference' AND m.alt <> ?4 ORDER BY m.id";
static const char sql_source_add[] =
	"INSERT INTO memory_sources (memory_id, reviewer, repo, task_id, pr, comment_id, "
	"created_at) VALUES (?1, lower(?2), ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
static const char sql_sources[] = "SELECT id, reviewer, repo, task_id, pr, comment_id, created_at "
				  "FROM memory_sources WHERE memory_id = ?1 ORDER BY id";
static const char sql_said[] =
	"UPDATE memories SET said_at = ?2, active_at = " LATER_ACTIVE ", "
	"updated_at = ?2, state = 'active', superseded_by = NULL, expires_at = NULL WHERE id = ?1";
static const char sql_promote[] =
	"UPDATE memories SET scope = 'org', scope_value = org, promoted_at = ?2, promoted_by = ?3, "
	"updated_at = ?2 WHERE id = ?1 AND org IS NOT NULL";
static const char sql_supersede[] = "UPDATE memories SET state = 'superseded', superseded_by = "
				    "?2, updated_at = ?3 WHERE id = ?1";
static const char sql_conflict_add[] =
	"INSERT INTO memory_conflicts (winner_id, loser_id, reason, created_at) "
	"VALUES (?1, ?2, ?3, ?4)";
static const char sql_conflicts[] =
	"SELECT id, winner_id, loser_id, reason, created_at FROM memory_conflicts "
	"WHERE winner_id = ?1 OR loser_id = ?1 ORDER BY id";
static const char sql_use[] =
	"UPDATE memories SET uses = uses + 1, last_used_at = ?2, active_at = " LATER_ACTIVE
	", updated_at = ?2 WHERE id = ?1";
static const char sql_use_task[] =
	"INSERT INTO memory_uses (memory_id, task_id, uses, first_at, last_at) VALUES (?1, ?2, 1, "
	"?3, ?3) ON CONFLICT (memory_id, task_id) DO UPDATE SET uses = memory_uses.uses + 1, "
	"last_at = ?3";
static const char sql_uses[] = "SELECT task_id, uses, first_at, last_at FROM memory_uses "
			       "WHERE memory_id = ?1 ORDER BY first_at, task_id";
static const char sql_forget[] =
	"UPDATE memories SET state = 'forgotten', forgotten_at = ?2, forgotten_by = ?3, "
	"updated_at = ?2 WHERE id = ?1";
static const char sql_expire_any[] =
	"SELECT EXISTS (SELECT 1 FROM memories WHERE state = 'active' AND active_at < ?1)";
static const char sql_expire[] =
	"UPDATE memories SET state = 'expired', expires_at = active_at + ?2, updated_at = ?3 "
	"WHERE state = 'active' AND active_at < ?1";
/*
 * Only memory_scopes, which carries the columns read here (migration 12):
 * the rules of a scope key are one range of its primary key. No ORDER BY:
 * the caller ranks the rows itself, and cutting to the most recently said
 * in C spares a sort of every row in scope.
 */
static const char sql_in_scope[] =
	"SELECT memory_id, said_at, path_glob, scope = 'repo', language IS NOT NULL, rule_len FROM "
	"memory_scopes WHERE key IN ('org:' || ?1, 'repo:' || ?2) AND state = 'active' AND "
	"(language = ?3 OR language IS NULL OR ?3 IS NULL) AND (recipe = ?4 OR kind = 'text' OR "
	"?4 IS NULL)";
static const char sql_unindexed[] =
	"SELECT id FROM memories WHERE scope_terms = '' AND org IS NOT "
	"NULL AND id IN (SELECT memory_id FROM memory_scopes) LIMIT 1000";
static const char sql_fts[] = "SELECT rowid, nsh_memory_tf(memories_fts) FROM memories_fts "
			      "WHERE memories_fts MATCH ?1";
/*
 * PostgreSQL: the hits of tsquery ?1 (the tokens of the terms in every
 * scope of the query), with their text and in how many of the query's
 * scopes each is found (?2 the tokens of the first scope, ?3 of the
 * second or NULL).
 */
static const char sql_fts_pg[] =
	"SELECT id, rule, coalesce((terms @@ ?2::tsquery)::int, 0) + coalesce((terms @@ "
	"?3::tsquery)::int, 0) FROM memories WHERE terms @@ ?1::tsquery";

void nsh_store_memory_each_sql(void (*fn)(const char *sql, void *ctx), void *ctx)
{
	/* all but sql_fts, the FTS5 search, and sql_fts_pg, PostgreSQL's */
	static const char *const all[] = {
		sql_insert,    sql_scope_add,	 sql_scope_keys, sql_scope_clear, sql_set_terms,
		sql_set_len,   sql_unmeasured,	 sql_get,	 sql_list,	  sql_find_key,
		sql_rivals,    sql_source_add,	 sql_sources,	 sql_said,	  sql_promote,
		sql_supersede, sql_conflict_add, sql_conflicts,	 sql_use,	  sql_use_task,
		sql_uses,      sql_forget,	 sql_expire_any, sql_expire,	  sql_in_scope,
		sql_unindexed,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		fn(all[i], ctx);
}

#define MAX_TERMS ((int)(sizeof(((struct nsh_memory_hit *)0)->tf) / sizeof(int)))

void nsh_memory_rec_release(struct nsh_memory_rec *m)
{
	if (!m)
		return;
	free(m->rule);
	free(m->kind);
	free(m->recipe);
	free(m->choice);
	free(m->alt);
	free(m->rule_key);
	free(m->scope);
	free(m->scope_value);
	free(m->org);
	free(m->repo);
	free(m->language);
	free(m->path_glob);
	free(m->state);
	free(m->source);
	free(m->promoted_by);
	free(m->forgotten_by);
	memset(m, 0, sizeof(*m));
}

void nsh_memory_list_release(struct nsh_memory_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_memory_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void nsh_memory_source_list_release(struct nsh_memory_source_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].reviewer);
		free(l->v[i].repo);
		free(l->v[i].task_id);
		free(l->v[i].pr);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void nsh_memory_conflict_list_release(struct nsh_memory_conflict_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i].reason);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void nsh_memory_cand_list_release(struct nsh_memory_cand_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i].path_glob);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void nsh_memory_use_list_release(struct nsh_memory_use_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i].task_id);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void rec_from_row(struct nsh_db_stmt *st, struct nsh_memory_rec *m)
{
	m->id = nsh_db_col_int64(st, 0);
	m->rule = nsh_store_col_text(st, 1);
	m->kind = nsh_store_col_text(st, 2);
	m->recipe = nsh_store_col_text(st, 3);
	m->choice = nsh_store_col_text(st, 4);
	m->alt = nsh_store_col_text(st, 5);
	m->rule_key = nsh_store_col_text(st, 6);
	m->scope = nsh_store_col_text(st, 7);
	m->scope_value = nsh_store_col_text(st, 8);
	m->org = nsh_store_col_text(st, 9);
	m->repo = nsh_store_col_text(st, 10);
	m->language = nsh_store_col_text(st, 11);
	m->path_glob = nsh_store_col_text(st, 12);
	m->state = nsh_store_col_text(st, 13);
	m->source = nsh_store_col_text(st, 14);
	m->uses = nsh_db_col_int64(st, 15);
	m->created_ms = nsh_db_col_int64(st, 16);
	m->said_ms = nsh_db_col_int64(st, 17);
	m->last_used_ms = nsh_db_col_int64(st, 18);
	m->active_ms = nsh_db_col_int64(st, 19);
	m->updated_ms = nsh_db_col_int64(st, 20);
	m->expires_ms = nsh_db_col_int64(st, 21);
	m->superseded_by = nsh_db_col_int64(st, 22);
	m->promoted_ms = nsh_db_col_int64(st, 23);
	m->promoted_by = nsh_store_col_text(st, 24);
	m->forgotten_ms = nsh_db_col_int64(st, 25);
	m->forgotten_by = nsh_store_col_text(st, 26);
}

/* Step @st to the end, appending each row to @ret. */
static int rows_to_list(struct nsh_store *s, struct nsh_db_stmt *st, struct nsh_memory_list *ret,
			struct nsh_err *err)
{
	int rc;

	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		rec_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "listing memories");
	nsh_store_stmt_done(st);
	return rc;
}

/* Run a statement that changes rows; *@ret_changes (may be NULL) gets how many. */
static int step_done(struct nsh_store *s, struct nsh_db_stmt *st, const char *what,
		     int *ret_changes, struct nsh_err *err)
{
	int rc = 0;

	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = nsh_store_db_fail(s, err, what);
	else if (ret_changes)
		*ret_changes = nsh_db_changes(nsh_store_db(s));
	nsh_store_stmt_done(st);
	return rc;
}

#define PREPARE(var, sql)                         \
 do {                                             \
  (var) = nsh_store_stmt_sql(s, (sql), err);      \
  if (!(var))                                     \
   return err && err->code ? err->code : NSH_EIO; \
 } while (0)

/* ---- scope keys and their full-text tokens ---- */

/* Append the full-text token of scope key @key ("org:O" or "repo:O/R") to @b. */
static void add_scope_token(struct nsh_buf *b, const char *key)
{
	static const char hex[] = "0123456789abcdef";
	const char *v = strchr(key, ':');

	if (!v)
		return;
	nsh_buf_adds(b, key[0] == 'o' ? "zo" : "zr");
	for (const unsigned char *p = (const unsigned char *)v + 1; *p; p++) {
		nsh_buf_addch(b, hex[*p >> 4]);
		nsh_buf_addch(b, hex[*p & 15]);
	}
}

int nsh_store_memory_words(const char *text, struct nsh_strvec *ret)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t n = 0;

	while (*p) {
		struct nsh_buf w = NSH_BUF_INIT;

		while (*p && !(isalnum(*p) || *p >= 0x80))
			p++;
		while (*p && (isalnum(*p) || *p >= 0x80)) {
			if (w.len < NSH_STORE_MEMORY_WORD_MAX)
				nsh_buf_addch(&w, (char)tolower(*p));
			p++;
		}
		if (w.len && n++ < NSH_STORE_MEMORY_WORDS_MAX)
			nsh_strvec_push(ret, w.buf);
		nsh_buf_release(&w);
	}
	return 0;
}

static bool is_pg(struct nsh_store *s)
{
	return nsh_db_kind(nsh_store_db(s)) == NSH_DB_PG;
}

/* PostgreSQL's limits on a tsvector: bytes of one lexeme, and of them all. */
#define PG_LEXEME_MAX 2047
#define PG_TERMS_MAX  900000 /* of the 1 MB of a tsvector, with room for its entries */

/*
 * Append PostgreSQL's token for word @w in scope key @key to @b: the key's
 * token, "x" and the word in hex (ASCII only, whatever the text's bytes).
 */
static void add_pg_token(struct nsh_buf *b, const char *key, const char *w)
{
	static const char hex[] = "0123456789abcdef";

	add_scope_token(b, key);
	nsh_buf_addch(b, 'x');
	for (const unsigned char *p = (const unsigned char *)w; *p; p++) {
		nsh_buf_addch(b, hex[*p >> 4]);
		nsh_buf_addch(b, hex[*p & 15]);
	}
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * PostgreSQL's scope_terms for the scope keys @keys and the words @words
 * (sorted here): each distinct (key, word) token once, separated by
 * spaces. A token too long for a lexeme is left out (it needs a scope
 * key of some 1,000 bytes, which the memory module never makes), and so
 * are the tokens past PG_TERMS_MAX bytes (a long rule said in hundreds of
 * repositories): the rule is then not found by its words in those scopes.
 */
static void pg_terms(struct nsh_buf *b, const struct nsh_strvec *keys, struct nsh_strvec *words)
{
	struct nsh_buf t = NSH_BUF_INIT;
	size_t n = 0;

	if (words->nr)
		qsort(words->v, words->nr, sizeof(words->v[0]), str_cmp);
	for (size_t i = 0; i < keys->nr; i++)
		for (size_t k = 0; k < words->nr; k++) {
			if (k && !strcmp(words->v[k], words->v[k - 1]))
				continue;
			nsh_buf_reset(&t);
			add_pg_token(&t, keys->v[i], words->v[k]);
			if (t.len > PG_LEXEME_MAX)
				continue;
			if (b->len + 1 + t.len + 4 * (n + 1) > PG_TERMS_MAX)
				goto out;
			if (b->len)
				nsh_buf_addch(b, ' ');
			nsh_buf_add(b, t.buf, t.len);
			n++;
		}
out:
	nsh_buf_release(&t);
}

/*
 * Rewrite the full-text tokens of rule @id: for each scope key and each
 * word of the rule, the key's token, "x" and the word ("zo6163x" "retry"
 * as one token), so that a query for a word in one scope reads only the
 * rules of that scope that have the word. PostgreSQL's are pg_terms().
 */
static int refresh_terms(struct nsh_store *s, int64_t id, struct nsh_err *err)
{
	struct nsh_strvec keys = NSH_STRVEC_INIT, words = NSH_STRVEC_INIT;
	struct nsh_memory_rec m = {0};
	struct nsh_buf b;
	struct nsh_db_stmt *st;
	bool pg;
	int rc;

	nsh_buf_init(&b, SIZE_MAX);
	rc = nsh_store_memory_get(s, id, &m, err);
	if (!rc)
		rc = nsh_store_memory_scope_keys(s, id, &keys, err);
	if (rc)
		goto out;
	nsh_store_memory_words(m.rule, &words);
	pg = is_pg(s);
	if (pg)
		pg_terms(&b, &keys, &words);
	for (size_t i = 0; !pg && i < keys.nr; i++)
		for (size_t k = 0; k < words.nr; k++) {
			if (b.len)
				nsh_buf_addch(&b, ' ');
			add_scope_token(&b, keys.v[i]);
			nsh_buf_addch(&b, 'x');
			nsh_buf_adds(&b, words.v[k]);
		}
	st = nsh_store_stmt_sql(s, sql_set_terms, err);
	if (!st) {
		rc = err && err->code ? err->code : NSH_EIO;
		goto out;
	}
	nsh_db_bind_int64(st, 1, id);
	nsh_store_bind_text(st, 2, b.buf);
	rc = step_done(s, st, "indexing a memory's scope", NULL, err);
out:
	nsh_buf_release(&b);
	nsh_strvec_release(&keys);
	nsh_strvec_release(&words);
	nsh_memory_rec_release(&m);
	return rc;
}

static int scope_add(struct nsh_store *s, int64_t id, const char *key, bool *ret_added,
		     struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int n = 0, rc;

	PREPARE(st, sql_scope_add);
	nsh_db_bind_int64(st, 1, id);
	nsh_store_bind_text(st, 2, key);
	rc = step_done(s, st, "adding a memory scope", &n, err);
	if (!rc && ret_added)
		*ret_added = n > 0;
	return rc;
}

int nsh_store_memory_scope_keys(struct nsh_store *s, int64_t id, struct nsh_strvec *ret,
				struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_scope_keys);
	nsh_db_bind_int64(st, 1, id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW)
		nsh_strvec_push(ret, nsh_db_col_text(st, 0));
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "reading memory scopes");
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_memory_scope_add_repo(struct nsh_store *s, int64_t id, const char *repo,
				    struct nsh_err *err)
{
	char *key = nsh_xasprintf("repo:%s", repo);
	bool added = false;
	int rc = scope_add(s, id, key, &added, err);

	if (!rc && added)
		rc = refresh_terms(s, id, err);
	free(key);
	return rc;
}

/* ---- the length of a rule's text ---- */

static int count_token(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	(void)tok;
	(void)n;
	(void)start;
	(void)end;
	if (!(flags & FTS5_TOKEN_COLOCATED))
		(*(int *)ctx)++;
	return SQLITE_OK;
}

/*
 * PostgreSQL's length of @text: its words as nsh_store_memory_words()
 * splits them, all of them. The same count as unicode61's for ASCII text;
 * unicode61 also splits at non-ASCII punctuation and spaces, which are
 * part of a word here.
 */
static int count_words(const char *text)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "");
	int n = 0;

	while (*p) {
		while (*p && !(isalnum(*p) || *p >= 0x80))
			p++;
		if (*p && n < INT_MAX)
			n++;
		while (*p && (isalnum(*p) || *p >= 0x80))
			p++;
	}
	return n;
}

/*
 * The number of tokens of @text as memories_fts counts its rule column:
 * its tokenizer (unicode61, the default) run over it, as FTS5 does when it
 * writes the row's size.
 */
static int fts_tokens(struct nsh_store *s, const char *text, int *ret, struct nsh_err *err)
{
	fts5_api *api = nsh_db_sqlite_fts5(nsh_store_db(s));
	fts5_tokenizer tk;
	Fts5Tokenizer *t = NULL;
	void *ud = NULL;
	int n = 0, rc;

	if (is_pg(s)) {
		*ret = count_words(text);
		return 0;
	}
	if (!api || api->xFindTokenizer(api, "unicode61", &ud, &tk) != SQLITE_OK ||
	    tk.xCreate(ud, NULL, 0, &t) != SQLITE_OK)
		return nsh_err_set(err, NSH_EIO, "this SQLite has no usable FTS5 tokenizer");
	rc = tk.xTokenize(t, &n, FTS5_TOKENIZE_DOCUMENT, text ? text : "",
			  text ? (int)strlen(text) : 0, count_token);
	tk.xDelete(t);
	if (rc != SQLITE_OK)
		return nsh_err_set(err, NSH_EIO, "cannot count the words of a memory");
	*ret = n;
	return 0;
}

/* Write the length of rule @id's text @text. */
static int set_len(struct nsh_store *s, int64_t id, const char *text, struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int n = 0, rc;

	rc = fts_tokens(s, text, &n, err);
	if (rc)
		return rc;
	PREPARE(st, sql_set_len);
	nsh_db_bind_int64(st, 1, id);
	nsh_db_bind_int64(st, 2, n);
	return step_done(s, st, "measuring a memory", NULL, err);
}

/* ---- rows ---- */

int nsh_store_memory_insert(struct nsh_store *s, const struct nsh_memory_rec *m, int64_t *ret_id,
			    struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	char *key = NULL;
	int64_t id = 0;
	int rc;

	PREPARE(st, sql_insert);
	nsh_store_bind_text(st, 1, m->rule);
	nsh_store_bind_text(st, 2, m->kind ? m->kind : "text");
	nsh_store_bind_text(st, 3, m->recipe);
	nsh_store_bind_text(st, 4, m->choice);
	nsh_store_bind_text(st, 5, m->alt);
	nsh_store_bind_text(st, 6, m->rule_key);
	nsh_store_bind_text(st, 7, m->scope ? m->scope : "repo");
	nsh_store_bind_text(st, 8, m->scope_value);
	nsh_store_bind_text(st, 9, m->org);
	nsh_store_bind_text(st, 10, m->repo);
	nsh_store_bind_text(st, 11, m->language);
	nsh_store_bind_text(st, 12, m->path_glob);
	nsh_store_bind_text(st, 13, m->state ? m->state : "active");
	nsh_store_bind_text(st, 14, m->source ? m->source : "{}");
	nsh_db_bind_int64(st, 15, m->created_ms ? m->created_ms : nsh_time_now_ms());
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		id = nsh_db_col_int64(st, 0);
		rc = 0;
	} else {
		rc = nsh_store_db_fail(s, err, "adding a memory");
	}
	nsh_store_stmt_done(st);
	if (rc)
		return rc;
	/* The text's length as memories_fts counts it, for ranking; the text never changes. */
	rc = set_len(s, id, m->rule, err);
	if (rc)
		return rc;
	if (m->scope_value && m->scope && (!strcmp(m->scope, "org") || !strcmp(m->scope, "repo"))) {
		key = nsh_xasprintf("%s:%s", m->scope, m->scope_value);
		rc = scope_add(s, id, key, NULL, err);
		if (!rc)
			rc = refresh_terms(s, id, err);
	}
	free(key);
	if (!rc && ret_id)
		*ret_id = id;
	return rc;
}

int nsh_store_memory_get(struct nsh_store *s, int64_t id, struct nsh_memory_rec *ret,
			 struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_get);
	nsh_db_bind_int64(st, 1, id);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		rec_from_row(st, ret);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no memory %lld", (long long)id);
	} else {
		rc = nsh_store_db_fail(s, err, "reading a memory");
	}
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_memory_list(struct nsh_store *s, const struct nsh_memory_filter *f,
			  struct nsh_memory_list *ret, struct nsh_err *err)
{
	static const struct nsh_memory_filter all = {0};
	struct nsh_db_stmt *st;

	if (!f)
		f = &all;
	PREPARE(st, sql_list);
	nsh_store_bind_text(st, 1, f->state);
	nsh_store_bind_text(st, 2, f->scope);
	nsh_store_bind_text(st, 3, f->org);
	nsh_store_bind_text(st, 4, f->repo);
	nsh_store_bind_text(st, 5, f->kind);
	nsh_db_bind_int64(st, 6, f->live && !f->state);
	nsh_db_bind_int64(st, 7, f->limit ? (int64_t)f->limit : INT64_MAX);
	nsh_db_bind_int64(st, 8, (int64_t)f->offset);
	return rows_to_list(s, st, ret, err);
}

int nsh_store_memory_find_key(struct nsh_store *s, const char *org, const char *rule_key,
			      struct nsh_memory_rec *ret, struct nsh_err *err)
{
	struct nsh_memory_list l = {0};
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_find_key);
	nsh_store_bind_text(st, 1, org);
	nsh_store_bind_text(st, 2, rule_key);
	rc = rows_to_list(s, st, &l, err);
	if (!rc && !l.nr)
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no memory for '%s'", rule_key);
	if (!rc) {
		*ret = l.v[0];
		l.nr = 0;
	}
	nsh_memory_list_release(&l);
	return rc;
}

int nsh_store_memory_rivals(struct nsh_store *s, const char *org, const char *recipe,
			    const char *choice, const char *alt, struct nsh_memory_list *ret,
			    struct nsh_err *err)
{
	struct nsh_db_stmt *st;

	PREPARE(st, sql_rivals);
	nsh_store_bind_text(st, 1, org);
	nsh_store_bind_text(st, 2, recipe);
	nsh_store_bind_text(st, 3, choice);
	nsh_store_bind_text(st, 4, alt);
	return rows_to_list(s, st, ret, err);
}

int nsh_store_memory_source_add(struct nsh_store *s, int64_t id,
				const struct nsh_memory_source_rec *src, bool *ret_added,
				struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int n = 0, rc;

	PREPARE(st, sql_source_add);
	nsh_db_bind_int64(st, 1, id);
	nsh_store_bind_text(st, 2, src->reviewer);
	nsh_store_bind_text(st, 3, src->repo);
	nsh_store_bind_text(st, 4, src->task_id);
	nsh_store_bind_text(st, 5, src->pr);
	nsh_store_bind_ms(st, 6, src->comment_id);
	nsh_db_bind_int64(st, 7, src->created_ms ? src->created_ms : nsh_time_now_ms());
	rc = step_done(s, st, "recording where a memory came from", &n, err);
	if (!rc && ret_added)
		*ret_added = n > 0;
	return rc;
}

int nsh_store_memory_sources(struct nsh_store *s, int64_t id, struct nsh_memory_source_list *ret,
			     struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_sources);
	nsh_db_bind_int64(st, 1, id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_memory_source_rec *r;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		r = &ret->v[ret->nr++];
		r->id = nsh_db_col_int64(st, 0);
		r->reviewer = nsh_store_col_text(st, 1);
		r->repo = nsh_store_col_text(st, 2);
		r->task_id = nsh_store_col_text(st, 3);
		r->pr = nsh_store_col_text(st, 4);
		r->comment_id = nsh_db_col_int64(st, 5);
		r->created_ms = nsh_db_col_int64(st, 6);
	}
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "reading memory provenance");
	nsh_store_stmt_done(st);
	return rc;
}

/* Run @sql with (?1 id, ?2 ms, ?3 text) and fail with "no memory N" when no row changed. */
static int update_one(struct nsh_store *s, const char *sql, int64_t id, int64_t ms,
		      const char *text, const char *what, struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int n = 0, rc;

	PREPARE(st, sql);
	nsh_db_bind_int64(st, 1, id);
	nsh_db_bind_int64(st, 2, ms ? ms : nsh_time_now_ms());
	if (nsh_db_param_count(st) >= 3)
		nsh_store_bind_text(st, 3, text);
	rc = step_done(s, st, what, &n, err);
	if (!rc && !n)
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no memory %lld", (long long)id);
	return rc;
}

int nsh_store_memory_said(struct nsh_store *s, int64_t id, int64_t now_ms, struct nsh_err *err)
{
	return update_one(s, sql_said, id, now_ms, NULL, "renewing a memory", err);
}

int nsh_store_memory_promote(struct nsh_store *s, int64_t id, const char *by, int64_t now_ms,
			     struct nsh_err *err)
{
	struct nsh_memory_rec m = {0};
	char *key = NULL;
	struct nsh_db_stmt *st;
	int rc;

	rc = update_one(s, sql_promote, id, now_ms, by ? by : "", "promoting a memory", err);
	if (!rc)
		rc = nsh_store_memory_get(s, id, &m, err);
	if (rc)
		goto out;
	st = nsh_store_stmt_sql(s, sql_scope_clear, err);
	if (!st) {
		rc = err && err->code ? err->code : NSH_EIO;
		goto out;
	}
	nsh_db_bind_int64(st, 1, id);
	rc = step_done(s, st, "promoting a memory", NULL, err);
	key = nsh_xasprintf("org:%s", m.org);
	if (!rc)
		rc = scope_add(s, id, key, NULL, err);
	if (!rc)
		rc = refresh_terms(s, id, err);
out:
	free(key);
	nsh_memory_rec_release(&m);
	return rc;
}

int nsh_store_memory_supersede(struct nsh_store *s, int64_t loser, int64_t winner,
			       const char *reason, int64_t now_ms, struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_supersede);
	nsh_db_bind_int64(st, 1, loser);
	nsh_db_bind_int64(st, 2, winner);
	nsh_db_bind_int64(st, 3, now_ms);
	rc = step_done(s, st, "superseding a memory", NULL, err);
	if (rc)
		return rc;
	PREPARE(st, sql_conflict_add);
	nsh_db_bind_int64(st, 1, winner);
	nsh_db_bind_int64(st, 2, loser);
	nsh_store_bind_text(st, 3, reason);
	nsh_db_bind_int64(st, 4, now_ms);
	return step_done(s, st, "recording a memory conflict", NULL, err);
}

int nsh_store_memory_conflicts(struct nsh_store *s, int64_t id,
			       struct nsh_memory_conflict_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_conflicts);
	nsh_db_bind_int64(st, 1, id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_memory_conflict_rec *c;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		c = &ret->v[ret->nr++];
		c->id = nsh_db_col_int64(st, 0);
		c->winner_id = nsh_db_col_int64(st, 1);
		c->loser_id = nsh_db_col_int64(st, 2);
		c->reason = nsh_store_col_text(st, 3);
		c->created_ms = nsh_db_col_int64(st, 4);
	}
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "reading memory conflicts");
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_memory_use(struct nsh_store *s, int64_t id, const char *task_id, int64_t now_ms,
			 struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc;

	if (!now_ms)
		now_ms = nsh_time_now_ms();
	rc = update_one(s, sql_use, id, now_ms, NULL, "counting a memory use", err);
	if (rc || !task_id)
		return rc;
	PREPARE(st, sql_use_task);
	nsh_db_bind_int64(st, 1, id);
	nsh_store_bind_text(st, 2, task_id);
	nsh_db_bind_int64(st, 3, now_ms);
	return step_done(s, st, "counting a memory use", NULL, err);
}

int nsh_store_memory_uses(struct nsh_store *s, int64_t id, struct nsh_memory_use_list *ret,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_uses);
	nsh_db_bind_int64(st, 1, id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_memory_use_rec *u;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		u = &ret->v[ret->nr++];
		u->task_id = nsh_store_col_text(st, 0);
		u->uses = nsh_db_col_int64(st, 1);
		u->first_ms = nsh_db_col_int64(st, 2);
		u->last_ms = nsh_db_col_int64(st, 3);
	}
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "reading memory uses");
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_memory_forget(struct nsh_store *s, int64_t id, const char *by, int64_t now_ms,
			    struct nsh_err *err)
{
	return update_one(s, sql_forget, id, now_ms, by, "forgetting a memory", err);
}

int nsh_store_memory_expire(struct nsh_store *s, int64_t now_ms, int64_t ttl_ms, size_t *ret_n,
			    struct nsh_err *err)
{
	int64_t cutoff = now_ms - ttl_ms;
	struct nsh_db_stmt *st;
	int any = 0, n = 0, rc;

	/* A read first: retrieval should not take the write lock for nothing. */
	PREPARE(st, sql_expire_any);
	nsh_db_bind_int64(st, 1, cutoff);
	if (nsh_db_step(st) == NSH_DB_ROW) {
		any = (int)nsh_db_col_int64(st, 0);
		rc = 0;
	} else {
		rc = nsh_store_db_fail(s, err, "looking for expired memories");
	}
	nsh_store_stmt_done(st);
	if (!rc && any) {
		PREPARE(st, sql_expire);
		nsh_db_bind_int64(st, 1, cutoff);
		nsh_db_bind_int64(st, 2, ttl_ms);
		nsh_db_bind_int64(st, 3, now_ms);
		rc = step_done(s, st, "expiring memories", &n, err);
	}
	if (!rc && ret_n)
		*ret_n = (size_t)n;
	return rc;
}

/* Most recently said first, then the newest rule. */
static int cand_newer(const void *a, const void *b)
{
	const struct nsh_memory_cand *x = a, *y = b;

	if (x->said_ms != y->said_ms)
		return x->said_ms < y->said_ms ? 1 : -1;
	return (x->id < y->id) - (x->id > y->id);
}

/* Keep the @max most recently said of the rows of @l from @from on. */
static void cand_cut(struct nsh_memory_cand_list *l, size_t from, size_t max)
{
	qsort(l->v + from, l->nr - from, sizeof(l->v[0]), cand_newer);
	for (size_t i = from + max; i < l->nr; i++)
		free(l->v[i].path_glob);
	l->nr = from + max;
}

int nsh_store_memory_in_scope(struct nsh_store *s, const char *org, const char *repo,
			      const char *language, const char *recipe, size_t max,
			      struct nsh_memory_cand_list *ret, struct nsh_err *err)
{
	size_t from = ret->nr;
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_in_scope);
	nsh_store_bind_text(st, 1, org);
	nsh_store_bind_text(st, 2, repo);
	nsh_store_bind_text(st, 3, language);
	nsh_store_bind_text(st, 4, recipe);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_memory_cand *c;

		/* Cut now and then, so that a huge scope costs time but not memory. */
		if (max && ret->nr - from >= 2 * max)
			cand_cut(ret, from, max);
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		c = &ret->v[ret->nr++];
		c->id = nsh_db_col_int64(st, 0);
		c->said_ms = nsh_db_col_int64(st, 1);
		c->path_glob = nsh_store_col_text(st, 2);
		c->repo_scope = (int)nsh_db_col_int64(st, 3);
		c->language = (int)nsh_db_col_int64(st, 4);
		c->len = (int)nsh_db_col_int64(st, 5);
	}
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "listing memories in scope");
	nsh_store_stmt_done(st);
	if (!rc && max && ret->nr - from > max)
		cand_cut(ret, from, max);
	return rc;
}

/*
 * @term as the words of PostgreSQL's index are (a new string), or NULL
 * when no word of a text can be it: empty, longer than a word is kept, or
 * with a byte that separates words. ASCII is lower-cased, as FTS5 does.
 */
static char *pg_word(const char *term)
{
	size_t n = strlen(term);
	char *w;

	if (!n || n > NSH_STORE_MEMORY_WORD_MAX)
		return NULL;
	w = nsh_xstrdup(term);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		if (!(isalnum(c) || c >= 0x80)) {
			free(w);
			return NULL;
		}
		w[i] = (char)tolower(c);
	}
	return w;
}

/*
 * Add @mult to @tf[t] for each occurrence of word @words[t] (NULL: none)
 * among the words of @text as nsh_store_memory_words() splits them (the
 * first NSH_STORE_MEMORY_WORDS_MAX, each cut at NSH_STORE_MEMORY_WORD_MAX
 * bytes), without copying them.
 */
static void count_terms(const char *text, char *const *words, size_t nterms, int mult, int *tf)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "");
	size_t n = 0;

	while (*p && n < NSH_STORE_MEMORY_WORDS_MAX) {
		const unsigned char *w;
		size_t len;

		while (*p && !(isalnum(*p) || *p >= 0x80))
			p++;
		w = p;
		while (*p && (isalnum(*p) || *p >= 0x80))
			p++;
		len = (size_t)(p - w);
		if (!len)
			break;
		n++;
		if (len > NSH_STORE_MEMORY_WORD_MAX)
			len = NSH_STORE_MEMORY_WORD_MAX;
		for (size_t t = 0; t < nterms; t++) {
			const char *q = words[t];
			size_t i = 0;

			if (!q)
				continue;
			while (i < len && q[i] && (char)tolower(w[i]) == q[i])
				i++;
			if (i == len && !q[i])
				tf[t] += mult;
		}
	}
}

/*
 * The full-text search on PostgreSQL: the tokens of @terms in the scope
 * keys @keys go into tsqueries as quoted lexemes made only of ASCII
 * letters and digits, so that no text can make them fail to parse. Each
 * hit's term counts are taken from its text, times the number of the
 * query's scopes it has (a rule has repository keys or its org's, so one),
 * which is what FTS5 counts in scope_terms.
 */
static int pg_fts(struct nsh_store *s, char *const *keys, int nscope, const char *const *terms,
		  size_t nterms, struct nsh_memory_hit_list *ret, struct nsh_err *err)
{
	struct nsh_buf q[2] = {NSH_BUF_INIT, NSH_BUF_INIT}, all = NSH_BUF_INIT, tok = NSH_BUF_INIT;
	char *words[MAX_TERMS] = {NULL};
	struct nsh_db_stmt *st;
	int rc = 0;

	for (size_t t = 0; t < nterms; t++)
		words[t] = pg_word(terms[t]);
	for (int k = 0; k < nscope; k++)
		for (size_t t = 0; t < nterms; t++) {
			if (!words[t])
				continue;
			nsh_buf_reset(&tok);
			add_pg_token(&tok, keys[k], words[t]);
			if (tok.len > PG_LEXEME_MAX)
				continue; /* a key too long for the index: nothing has it */
			nsh_buf_adds(&q[k], q[k].len ? " | '" : "'");
			nsh_buf_add(&q[k], tok.buf, tok.len);
			nsh_buf_addch(&q[k], '\'');
		}
	nsh_buf_add(&all, q[0].buf, q[0].len);
	if (all.len && q[1].len)
		nsh_buf_adds(&all, " | ");
	nsh_buf_add(&all, q[1].buf, q[1].len);
	if (!all.len)
		goto out; /* no term can be a word of the index: no hits */
	st = nsh_store_stmt_sql(s, sql_fts_pg, err);
	if (!st) {
		rc = err && err->code ? err->code : NSH_EIO;
		goto out;
	}
	nsh_store_bind_text(st, 1, all.buf);
	nsh_store_bind_text(st, 2, q[0].len ? q[0].buf : NULL);
	nsh_store_bind_text(st, 3, q[1].len ? q[1].buf : NULL);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_memory_hit *h;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		h = &ret->v[ret->nr++];
		memset(h, 0, sizeof(*h));
		h->id = nsh_db_col_int64(st, 0);
		count_terms(nsh_db_col_text(st, 1), words, nterms, (int)nsh_db_col_int64(st, 2),
			    h->tf);
	}
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "searching memories");
	nsh_store_stmt_done(st);
out:
	for (size_t t = 0; t < nterms; t++)
		free(words[t]);
	nsh_buf_release(&q[0]);
	nsh_buf_release(&q[1]);
	nsh_buf_release(&all);
	nsh_buf_release(&tok);
	return rc;
}

int nsh_store_memory_fts(struct nsh_store *s, const char *org, const char *repo,
			 const char *const *terms, size_t nterms, struct nsh_memory_hit_list *ret,
			 struct nsh_err *err)
{
	char *keys[2] = {NULL, NULL};
	struct nsh_buf q;
	struct nsh_db_stmt *st;
	int nscope = 0, rc;

	if (!nterms)
		return 0;
	if (nterms > (size_t)MAX_TERMS)
		nterms = (size_t)MAX_TERMS;
	if (!org && !repo)
		return nsh_err_set(err, NSH_EINVAL, "a memory search needs an org or a repository");
	nsh_buf_init(&q, SIZE_MAX);
	if (org)
		keys[nscope++] = nsh_xasprintf("org:%s", org);
	if (repo)
		keys[nscope++] = nsh_xasprintf("repo:%s", repo);
	if (is_pg(s)) {
		rc = pg_fts(s, keys, nscope, terms, nterms, ret, err);
		goto out;
	}
	/* Phrase number k * nterms + t is term t in scope k. */
	nsh_buf_adds(&q, "scope_terms : (");
	for (int k = 0; k < nscope; k++)
		for (size_t t = 0; t < nterms; t++) {
			if (k || t)
				nsh_buf_adds(&q, " OR ");
			nsh_buf_addch(&q, '"');
			add_scope_token(&q, keys[k]);
			nsh_buf_addch(&q, 'x');
			for (const char *p = terms[t]; *p; p++) {
				if (*p == '"')
					nsh_buf_addch(&q, '"');
				nsh_buf_addch(&q, *p);
			}
			nsh_buf_addch(&q, '"');
		}
	nsh_buf_addch(&q, ')');

	st = nsh_store_stmt_sql(s, sql_fts, err);
	if (!st) {
		rc = err && err->code ? err->code : NSH_EIO;
		goto out;
	}
	nsh_store_bind_text(st, 1, q.buf);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		const int *v = nsh_db_col_blob(st, 1);
		int n = (int)(nsh_db_col_bytes(st, 1) / sizeof(int));
		struct nsh_memory_hit *h;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		h = &ret->v[ret->nr++];
		memset(h, 0, sizeof(*h));
		h->id = nsh_db_col_int64(st, 0);
		for (int k = 0; k < nscope; k++)
			for (int t = 0; t < (int)nterms && k * (int)nterms + t < n; t++)
				h->tf[t] += v[k * (int)nterms + t];
	}
	rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "searching memories");
	nsh_store_stmt_done(st);
out:
	free(keys[0]);
	free(keys[1]);
	nsh_buf_release(&q);
	return rc;
}

/* ---- the ranking function of memories_fts ---- */

/*
 * nsh_memory_tf(memories_fts): a blob of ints, for each phrase of the query
 * how often it occurs in the hit's scope_terms column (where each scoped
 * word token stands for one occurrence of the word in the rule). Only the
 * current row is looked at, so the cost of a query stays proportional to
 * its hits (bm25() counts every phrase over the whole table on each query).
 */
static void tf_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int nval,
		  sqlite3_value **val)
{
	int nphrase = api->xPhraseCount(fts);
	int ninst = 0;
	int *out;

	(void)nval;
	(void)val;
	if (nphrase < 1)
		nphrase = 1; /* a blob of one 0 rather than none */
	out = sqlite3_malloc64(sizeof(int) * (size_t)nphrase);
	if (!out) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	memset(out, 0, sizeof(int) * (size_t)nphrase);
	if (api->xInstCount(fts, &ninst) == SQLITE_OK)
		for (int i = 0; i < ninst; i++) {
			int phrase, col, off;

			if (api->xInst(fts, i, &phrase, &col, &off) == SQLITE_OK && col == 1 &&
			    phrase >= 0 && phrase < nphrase)
				out[phrase]++;
		}
	sqlite3_result_blob(ctx, out, (int)(sizeof(int) * (size_t)nphrase), sqlite3_free);
}

/* Fill memories.rule_len of the rules from before migration 12, in batches. */
static int measure_old_rows(struct nsh_store *s, struct nsh_err *err)
{
	for (;;) {
		struct nsh_memory_list l = {0};
		struct nsh_db_stmt *st;
		int rc;

		PREPARE(st, sql_unmeasured);
		while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
			NSH_ALLOC_GROW(l.v, l.nr + 1, l.alloc);
			memset(&l.v[l.nr], 0, sizeof(l.v[0]));
			l.v[l.nr].id = nsh_db_col_int64(st, 0);
			l.v[l.nr++].rule = nsh_store_col_text(st, 1);
		}
		rc = rc == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, "finding old memories");
		nsh_store_stmt_done(st);
		if (!rc && l.nr)
			rc = nsh_store_begin(s, err);
		for (size_t i = 0; !rc && i < l.nr; i++)
			rc = set_len(s, l.v[i].id, l.v[i].rule, err);
		if (!rc && l.nr)
			rc = nsh_store_commit(s, err);
		else if (rc && l.nr)
			nsh_store_rollback(s);
		if (rc || !l.nr) {
			nsh_memory_list_release(&l);
			return rc;
		}
		nsh_memory_list_release(&l);
	}
}

/* Give rules from before migration 7 their scoped word tokens. */
static int index_old_rows(struct nsh_store *s, struct nsh_err *err)
{
	int64_t ids[1000];
	size_t n = 0;
	struct nsh_db_stmt *st;
	int rc;

	PREPARE(st, sql_unindexed);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW && n < sizeof(ids) / sizeof(ids[0]))
		ids[n++] = nsh_db_col_int64(st, 0);
	rc = rc == NSH_DB_DONE || rc == NSH_DB_ROW
		     ? 0
		     : nsh_store_db_fail(s, err, "finding old memories");
	nsh_store_stmt_done(st);
	if (rc || !n)
		return rc;
	rc = nsh_store_begin(s, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = refresh_terms(s, ids[i], err);
	if (rc) {
		nsh_store_rollback(s);
		return rc;
	}
	return nsh_store_commit(s, err);
}

int nsh_store_memory_setup(struct nsh_store *s, int version, struct nsh_err *err)
{
	sqlite3 *db = nsh_db_sqlite(nsh_store_db(s));
	fts5_api *api;
	int rc = 0;

	if (is_pg(s)) {
		/* No ranking function to register; the index is a generated column (v15). */
		if (version < 15)
			return 0;
		rc = index_old_rows(s, err);
		return rc ? rc : measure_old_rows(s, err);
	}
	if (!db)
		return 0;
	api = nsh_db_sqlite_fts5(nsh_store_db(s));
	if (!api || api->iVersion < 2)
		return nsh_err_set(err, NSH_EIO, "this SQLite has no usable FTS5");
	if (api->xCreateFunction(api, "nsh_memory_tf", NULL, tf_fn, NULL) != SQLITE_OK)
		return nsh_store_db_fail(s, err, "registering the memory ranking function");
	rc = index_old_rows(s, err);
	if (!rc && version >= 12)
		rc = measure_old_rows(s, err);
	if (rc)
		return rc;
	/*
	 * Read the database through a memory map (shared with the page cache)
	 * rather than pread() into each connection's cache: retrieval touches
	 * many pages of memories_fts and memories, and copying them was most
	 * of its time with 100,000 rules (bench/memory).
	 */
	if (sqlite3_exec(db, "PRAGMA mmap_size = 268435456", NULL, NULL, NULL) != SQLITE_OK)
		rc = nsh_store_db_fail(s, err, "mapping the database");
	return rc;
}
