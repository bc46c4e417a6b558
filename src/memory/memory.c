/*
 * Learning, governing and retrieving rules (see memory.h for the rules of
 * governance). The SQL lives in src/store/memory.c; this file decides.
 *
 * Two rules are "the same" when they have the same organisation, the same
 * narrowing (language, path glob) and the same key: "p:" with the recipe,
 * choice and alternative for a preference, "t:" with the normalised text
 * (lower case, runs of spaces as one, final punctuation dropped) for free
 * text. A rule said in several repositories of its org by one reviewer
 * applies to each of them; a second distinct reviewer promotes it to the
 * whole org.
 */
#include "memory/memory.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "store/store.h"

#include "core/banned.h"

#define MAX_TERMS 32 /* query terms used for ranking (struct nsh_memory_hit's tf) */

void nsh_memory_rule_release(struct nsh_memory_rule *r)
{
	if (!r)
		return;
	nsh_memory_rec_release(&r->r);
	nsh_strvec_release(&r->reviewers);
	nsh_strvec_release(&r->repos);
	nsh_memory_source_list_release(&r->sources);
	nsh_memory_conflict_list_release(&r->conflicts);
	nsh_memory_use_list_release(&r->tasks);
	free(r->why);
	memset(r, 0, sizeof(*r));
}

void nsh_memory_rule_list_release(struct nsh_memory_rule_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_memory_rule_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static struct nsh_memory_rule *rule_push(struct nsh_memory_rule_list *l)
{
	struct nsh_memory_rule *r;

	NSH_ALLOC_GROW(l->v, l->nr + 1, l->alloc);
	r = &l->v[l->nr++];
	memset(r, 0, sizeof(*r));
	nsh_strvec_init(&r->reviewers);
	nsh_strvec_init(&r->repos);
	return r;
}

/* ---- checks and keys ---- */

static bool str_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* A name field: printable, no spaces at the ends, at most NSH_MEMORY_NAME_MAX bytes. */
static int check_name(const char *field, const char *v, bool required, struct nsh_err *err)
{
	size_t n;

	if (!v || !*v)
		return required ? nsh_err_set(err, NSH_EINVAL, "missing %s", field) : 0;
	n = strlen(v);
	if (n > NSH_MEMORY_NAME_MAX)
		return nsh_err_set(err, NSH_EINVAL, "%s is longer than %d bytes", field,
				   NSH_MEMORY_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return nsh_err_set(err, NSH_EINVAL, "invalid %s: control character", field);
	if (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]))
		return nsh_err_set(err, NSH_EINVAL, "invalid %s '%s': spaces at the ends", field,
				   v);
	return 0;
}

/* "O/R": one slash with something on both sides. */
static int check_repo(const char *repo, struct nsh_err *err)
{
	const char *slash;
	int rc = check_name("repository", repo, true, err);

	if (rc)
		return rc;
	slash = strchr(repo, '/');
	if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/') || strchr(repo, ' '))
		return nsh_err_set(err, NSH_EINVAL, "invalid repository '%s' (expected ORG/NAME)",
				   repo);
	return 0;
}

/* The rule's text in the form that decides whether two texts are the same rule. */
static char *normalise(const char *text)
{
	struct nsh_buf b = NSH_BUF_INIT;
	bool space = false;

	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (isspace(c)) {
			space = b.len > 0;
			continue;
		}
		if (space)
			nsh_buf_addch(&b, ' ');
		space = false;
		nsh_buf_addch(&b, (char)tolower(c));
	}
	while (b.len && strchr(".!;,: ", b.buf[b.len - 1]))
		nsh_buf_truncate(&b, b.len - 1);
	return nsh_buf_detach(&b, NULL);
}

static char *rule_key(const struct nsh_memory_learn *in, bool pref)
{
	char *norm = pref ? NULL : normalise(in->text);
	char *key;

	if (pref)
		key = nsh_xasprintf("p:%s\n%s\n%s\n%s\n%s", in->recipe, in->choice, in->alt,
				    in->language ? in->language : "", in->path ? in->path : "");
	else
		key = nsh_xasprintf("t:%s\n%s\n%s", norm, in->language ? in->language : "",
				    in->path ? in->path : "");
	free(norm);
	return key;
}

static int check_learn(const struct nsh_memory_learn *in, bool *ret_pref, struct nsh_err *err)
{
	bool pref;
	int rc;

	if (!in->kind || (strcmp(in->kind, "preference") && strcmp(in->kind, "text")))
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid memory kind '%s' (use preference or text)",
				   in->kind ? in->kind : "");
	pref = !strcmp(in->kind, "preference");
	if (!in->text || !*in->text)
		return nsh_err_set(err, NSH_EINVAL, "missing the rule's text");
	if (strlen(in->text) > NSH_MEMORY_TEXT_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "the rule's text is longer than %d bytes",
				   NSH_MEMORY_TEXT_MAX);
	rc = check_repo(in->repo, err);
	if (!rc)
		rc = check_name("reviewer", in->reviewer, true, err);
	if (!rc)
		rc = check_name("recipe", in->recipe, pref, err);
	if (!rc)
		rc = check_name("choice", in->choice, pref, err);
	if (!rc)
		rc = check_name("alternative", in->alt, pref, err);
	if (!rc)
		rc = check_name("language", in->language, false, err);
	if (!rc)
		rc = check_name("path glob", in->path, false, err);
	if (!rc && in->pr)
		rc = check_name("pull request", in->pr, false, err);
	if (!rc && in->task_id)
		rc = check_name("task", in->task_id, false, err);
	if (!rc)
		*ret_pref = pref;
	return rc;
}

/* ---- details of a rule ---- */

/* Fill the lists of @r (whose row is read) from the store. */
static int load_details(struct nsh_store *st, struct nsh_memory_rule *r, struct nsh_err *err)
{
	struct nsh_strvec keys = NSH_STRVEC_INIT;
	int rc;

	rc = nsh_store_memory_sources(st, r->r.id, &r->sources, err);
	if (!rc)
		rc = nsh_store_memory_conflicts(st, r->r.id, &r->conflicts, err);
	if (!rc)
		rc = nsh_store_memory_uses(st, r->r.id, &r->tasks, err);
	if (!rc)
		rc = nsh_store_memory_scope_keys(st, r->r.id, &keys, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < r->sources.nr; i++)
		if (nsh_strvec_find(&r->reviewers, r->sources.v[i].reviewer) < 0)
			nsh_strvec_push(&r->reviewers, r->sources.v[i].reviewer);
	for (size_t i = 0; i < keys.nr; i++)
		if (!strncmp(keys.v[i], "repo:", 5))
			nsh_strvec_push(&r->repos, keys.v[i] + 5);
out:
	nsh_strvec_release(&keys);
	return rc;
}

/*
 * Why @r applies, in a few words: its scope (the repository @repo when
 * given), who made it so, its narrowing, a text match, the rules it
 * replaced.
 */
static void make_why(struct nsh_memory_rule *r, const char *repo)
{
	struct nsh_buf b = NSH_BUF_INIT;
	const struct nsh_memory_rec *m = &r->r;

	if (str_eq(m->scope, "org")) {
		nsh_buf_addf(&b, "org %s", m->org ? m->org : m->scope_value ? m->scope_value : "?");
		if (m->promoted_by && !*m->promoted_by)
			nsh_buf_addf(&b, ", promoted by %zu reviewers", r->reviewers.nr);
		else if (m->promoted_by)
			nsh_buf_addf(&b, ", promoted by %s", m->promoted_by);
	} else if (str_eq(m->scope, "repo")) {
		if (repo)
			nsh_buf_addf(&b, "repo %s", repo);
		else if (r->repos.nr > 1)
			for (size_t i = 0; i < r->repos.nr; i++)
				nsh_buf_addf(&b, "%s%s", i ? ", " : "repos ", r->repos.v[i]);
		else
			nsh_buf_addf(&b, "repo %s",
				     r->repos.nr      ? r->repos.v[0]
				     : m->scope_value ? m->scope_value
						      : "?");
		if (r->reviewers.nr == 1)
			nsh_buf_addf(&b, ", said by %s", r->reviewers.v[0]);
	} else {
		nsh_buf_addf(&b, "%s %s", m->scope ? m->scope : "?",
			     m->scope_value ? m->scope_value : "");
	}
	if (m->language)
		nsh_buf_addf(&b, ", language %s", m->language);
	if (m->path_glob)
		nsh_buf_addf(&b, ", paths %s", m->path_glob);
	if (r->score > 0)
		nsh_buf_adds(&b, ", matches the task's text");
	for (size_t i = 0; i < r->conflicts.nr; i++)
		if (r->conflicts.v[i].winner_id == m->id)
			nsh_buf_addf(&b, ", replaced rule %lld",
				     (long long)r->conflicts.v[i].loser_id);
	free(r->why);
	r->why = nsh_buf_detach(&b, NULL);
}

/* Read rule @id fully into @ret (released by the caller even on failure). */
static int read_rule(struct nsh_store *st, int64_t id, struct nsh_memory_rule *ret,
		     struct nsh_err *err)
{
	int rc;

	nsh_strvec_init(&ret->reviewers);
	nsh_strvec_init(&ret->repos);
	rc = nsh_store_memory_get(st, id, &ret->r, err);
	if (!rc)
		rc = load_details(st, ret, err);
	if (!rc)
		make_why(ret, NULL);
	return rc;
}

int nsh_memory_get(struct nsh_store *st, int64_t id, struct nsh_memory_rule *ret,
		   struct nsh_err *err)
{
	struct nsh_memory_rule r = {0};
	int rc = read_rule(st, id, &r, err);

	if (rc) {
		nsh_memory_rule_release(&r);
		return rc;
	}
	*ret = r;
	return 0;
}

/* ---- conflicts ---- */

static bool globs_overlap(const char *a, const char *b)
{
	return !a || !b || !strcmp(a, b) || !fnmatch(a, b, 0) || !fnmatch(b, a, 0);
}

/* Whether rules @a and @b of one org can apply to the same change. */
static int scopes_overlap(struct nsh_store *st, const struct nsh_memory_rec *a,
			  const struct nsh_memory_rec *b, bool *ret, struct nsh_err *err)
{
	struct nsh_strvec ka = NSH_STRVEC_INIT, kb = NSH_STRVEC_INIT;
	int rc = 0;

	*ret = false;
	if (a->language && b->language && strcmp(a->language, b->language))
		return 0;
	if (!globs_overlap(a->path_glob, b->path_glob))
		return 0;
	if (str_eq(a->scope, "org") || str_eq(b->scope, "org")) {
		*ret = true;
		return 0;
	}
	rc = nsh_store_memory_scope_keys(st, a->id, &ka, err);
	if (!rc)
		rc = nsh_store_memory_scope_keys(st, b->id, &kb, err);
	for (size_t i = 0; !rc && !*ret && i < ka.nr; i++)
		*ret = nsh_strvec_find(&kb, ka.v[i]) >= 0;
	nsh_strvec_release(&ka);
	nsh_strvec_release(&kb);
	return rc;
}

/*
 * Rule @id (a preference) was just said or promoted: it is the newest, so
 * the active preferences of its org for the same recipe and choice with
 * another alternative whose scope overlaps are superseded by it.
 */
static int resolve_conflicts(struct nsh_store *st, int64_t id, const char *by, int64_t now,
			     struct nsh_err *err)
{
	struct nsh_memory_list rivals = {0};
	struct nsh_memory_rec me = {0};
	int rc;

	rc = nsh_store_memory_get(st, id, &me, err);
	if (rc || !str_eq(me.kind, "preference") || !me.org)
		goto out;
	rc = nsh_store_memory_rivals(st, me.org, me.recipe, me.choice, me.alt, &rivals, err);
	for (size_t i = 0; !rc && i < rivals.nr; i++) {
		const struct nsh_memory_rec *o = &rivals.v[i];
		bool overlap = false;
		char *reason;

		if (o->id == id)
			continue;
		rc = scopes_overlap(st, &me, o, &overlap, err);
		if (rc || !overlap)
			continue;
		reason = nsh_xasprintf("%s: '%s' (rule %lld, newer, from %s) replaces '%s' (rule "
				       "%lld)",
				       me.choice, me.alt, (long long)id, by && *by ? by : "review",
				       o->alt, (long long)o->id);
		rc = nsh_store_memory_supersede(st, o->id, id, reason, now, err);
		free(reason);
	}
out:
	nsh_memory_list_release(&rivals);
	nsh_memory_rec_release(&me);
	return rc;
}

/* ---- learning ---- */

static char *source_json(const struct nsh_memory_learn *in)
{
	json_t *o = json_object();
	char *s;

	if (in->task_id)
		json_object_set_new(o, "task", json_string(in->task_id));
	if (in->pr)
		json_object_set_new(o, "pr", json_string(in->pr));
	if (in->comment_id)
		json_object_set_new(o, "comment", json_integer(in->comment_id));
	json_object_set_new(o, "author", json_string(in->reviewer));
	json_object_set_new(o, "repo", json_string(in->repo));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		abort();
	return s;
}

/* Count the distinct reviewers of rule @id. */
static int count_reviewers(struct nsh_store *st, int64_t id, size_t *ret, struct nsh_err *err)
{
	struct nsh_memory_source_list l = {0};
	struct nsh_strvec seen = NSH_STRVEC_INIT;
	int rc = nsh_store_memory_sources(st, id, &l, err);

	for (size_t i = 0; !rc && i < l.nr; i++)
		if (nsh_strvec_find(&seen, l.v[i].reviewer) < 0)
			nsh_strvec_push(&seen, l.v[i].reviewer);
	if (!rc)
		*ret = seen.nr;
	nsh_strvec_release(&seen);
	nsh_memory_source_list_release(&l);
	return rc;
}

int nsh_memory_learn(struct nsh_store *st, const struct nsh_memory_learn *in,
		     struct nsh_memory_rule *ret, struct nsh_err *err)
{
	struct nsh_memory_source_rec src = {0};
	struct nsh_memory_rec old = {0}, row = {0};
	int64_t now = in->now_ms ? in->now_ms : nsh_time_now_ms();
	char *key = NULL, *org = NULL, *reason = NULL, *source = NULL;
	bool pref = false, created = false, promoted = false, txn = false;
	size_t reviewers = 0;
	int64_t id = 0;
	int rc;

	rc = check_learn(in, &pref, err);
	if (rc)
		return rc;
	if (!in->can_write)
		return nsh_err_set(err, NSH_EDENIED,
				   "feedback from '%s' is not learned: no write permission on '%s'",
				   in->reviewer, in->repo);
	if (nsh_memory_guard(in->text, &reason)) {
		rc = nsh_err_set(err, NSH_EDENIED, "feedback from '%s' is not learned: %s",
				 in->reviewer, reason);
		free(reason);
		return rc;
	}
	org = nsh_xstrndup(in->repo, (size_t)(strchr(in->repo, '/') - in->repo));
	key = rule_key(in, pref);

	rc = nsh_store_begin(st, err);
	if (rc)
		goto out;
	txn = true;
	rc = nsh_store_memory_find_key(st, org, key, &old, err);
	if (rc == NSH_ENOTFOUND) {
		source = source_json(in);
		row.rule = (char *)in->text;
		row.kind = (char *)in->kind;
		row.recipe = (char *)(pref ? in->recipe : NULL);
		row.choice = (char *)(pref ? in->choice : NULL);
		row.alt = (char *)(pref ? in->alt : NULL);
		row.rule_key = key;
		row.scope = (char *)"repo";
		row.scope_value = (char *)in->repo;
		row.org = org;
		row.repo = (char *)in->repo;
		row.language = (char *)in->language;
		row.path_glob = (char *)in->path;
		row.state = (char *)"active";
		row.source = source;
		row.created_ms = now;
		rc = nsh_store_memory_insert(st, &row, &id, err);
		created = true;
	} else if (!rc) {
		id = old.id;
		rc = nsh_store_memory_said(st, id, now, err);
		if (!rc && str_eq(old.scope, "repo"))
			rc = nsh_store_memory_scope_add_repo(st, id, in->repo, err);
	}
	if (rc)
		goto out;
	src.reviewer = (char *)in->reviewer;
	src.repo = (char *)in->repo;
	src.task_id = (char *)in->task_id;
	src.pr = (char *)in->pr;
	src.comment_id = in->comment_id;
	src.created_ms = now;
	rc = nsh_store_memory_source_add(st, id, &src, NULL, err);
	if (!rc)
		rc = count_reviewers(st, id, &reviewers, err);
	if (!rc && (created || str_eq(old.scope, "repo")) &&
	    reviewers >= NSH_MEMORY_PROMOTE_AFTER) {
		rc = nsh_store_memory_promote(st, id, "", now, err);
		promoted = true;
	}
	if (!rc && pref)
		rc = resolve_conflicts(st, id, in->reviewer, now, err);
	if (!rc)
		rc = nsh_store_commit(st, err);
	txn = false;
	if (rc || !ret)
		goto out;
	rc = nsh_memory_get(st, id, ret, err);
	if (!rc) {
		ret->created = created;
		ret->promoted = promoted;
	}
out:
	if (txn)
		nsh_store_rollback(st);
	nsh_memory_rec_release(&old);
	free(source);
	free(key);
	free(org);
	return rc;
}

/* ---- governance actions ---- */

int nsh_memory_used(struct nsh_store *st, int64_t id, const char *task_id, int64_t now_ms,
		    struct nsh_err *err)
{
	return nsh_store_memory_use(st, id, task_id, now_ms ? now_ms : nsh_time_now_ms(), err);
}

int nsh_memory_forget(struct nsh_store *st, int64_t id, const char *by, struct nsh_err *err)
{
	struct nsh_memory_rec m = {0};
	int rc = nsh_store_memory_get(st, id, &m, err);

	if (!rc && !str_eq(m.state, "forgotten"))
		rc = nsh_store_memory_forget(st, id, by, nsh_time_now_ms(), err);
	nsh_memory_rec_release(&m);
	return rc;
}

int nsh_memory_promote(struct nsh_store *st, int64_t id, const char *by, struct nsh_err *err)
{
	struct nsh_memory_rec m = {0};
	int64_t now = nsh_time_now_ms();
	bool txn = false;
	int rc;

	rc = nsh_store_begin(st, err);
	if (rc)
		return rc;
	txn = true;
	rc = nsh_store_memory_get(st, id, &m, err);
	if (rc)
		goto out;
	if (str_eq(m.state, "forgotten")) {
		rc = nsh_err_set(err, NSH_ECONFLICT, "memory %lld is forgotten", (long long)id);
		goto out;
	}
	if (!m.org) {
		rc = nsh_err_set(err, NSH_ECONFLICT, "memory %lld belongs to no org",
				 (long long)id);
		goto out;
	}
	if (str_eq(m.scope, "org") && str_eq(m.state, "active"))
		goto done;
	/* An explicit promotion is a fresh statement of the rule. */
	rc = nsh_store_memory_said(st, id, now, err);
	if (!rc && !str_eq(m.scope, "org"))
		rc = nsh_store_memory_promote(st, id, by && *by ? by : "admin", now, err);
	if (!rc)
		rc = resolve_conflicts(st, id, by, now, err);
	if (rc)
		goto out;
done:
	rc = nsh_store_commit(st, err);
	txn = false;
out:
	if (txn)
		nsh_store_rollback(st);
	nsh_memory_rec_release(&m);
	return rc;
}

int nsh_memory_expire(struct nsh_store *st, int64_t now_ms, int64_t ttl_ms, size_t *ret_n,
		      struct nsh_err *err)
{
	if (ttl_ms <= 0)
		ttl_ms = NSH_MEMORY_TTL_DAYS * NSH_MEMORY_DAY_MS;
	return nsh_store_memory_expire(st, now_ms ? now_ms : nsh_time_now_ms(), ttl_ms, ret_n, err);
}

int nsh_memory_ttl_ms(const struct nsh_config *cfg, int64_t *ret, struct nsh_err *err)
{
	long long days = NSH_MEMORY_TTL_DAYS;
	int rc = 0;

	if (cfg)
		rc = nsh_config_get_int(cfg, "memory", "ttl_days", NSH_MEMORY_TTL_DAYS, &days, err);
	if (rc)
		return rc;
	if (days < 1 || days > 36500)
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid value '%lld' for 'memory.ttl_days': expected 1 to "
				   "36500 days",
				   days);
	*ret = (int64_t)days * NSH_MEMORY_DAY_MS;
	return 0;
}

int nsh_memory_list(struct nsh_store *st, const struct nsh_memory_list_filter *filter,
		    struct nsh_memory_rule_list *ret, struct nsh_err *err)
{
	struct nsh_memory_list rows = {0};
	int rc;

	rc = nsh_memory_expire(st, filter ? filter->now_ms : 0, filter ? filter->ttl_ms : 0, NULL,
			       err);
	if (!rc)
		rc = nsh_store_memory_list(st, filter ? &filter->f : NULL, &rows, err);
	for (size_t i = 0; !rc && i < rows.nr; i++) {
		struct nsh_memory_rule *r = rule_push(ret);

		r->r = rows.v[i];
		memset(&rows.v[i], 0, sizeof(rows.v[i]));
		rc = load_details(st, r, err);
		if (!rc)
			make_why(r, NULL);
	}
	nsh_memory_list_release(&rows);
	return rc;
}

/* ---- retrieval ---- */

static bool stopword(const char *w)
{
	static const char *const words[] = {
		"a",   "all",  "an",   "and",  "are", "as", "at",   "be",  "by",
		"for", "from", "in",   "into", "is",  "it", "of",   "on",  "or",
		"our", "the",  "this", "that", "to",  "we", "with", "you", "your",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(w, words[i]))
			return true;
	return false;
}

/* The distinct words of @text for ranking, as the index splits them; 2+ bytes, no stopwords. */
static void query_terms(const char *text, struct nsh_strvec *ret)
{
	struct nsh_strvec words = NSH_STRVEC_INIT;

	nsh_store_memory_words(text, &words);
	for (size_t i = 0; i < words.nr && ret->nr < MAX_TERMS; i++)
		if (strlen(words.v[i]) >= 2 && !stopword(words.v[i]) &&
		    nsh_strvec_find(ret, words.v[i]) < 0)
			nsh_strvec_push(ret, words.v[i]);
	nsh_strvec_release(&words);
}

/*
 * The natural logarithm of @x >= 1 (the library's log() is in libm, which
 * nothing else needs): divide by e until below it, then the series of
 * 2 atanh((x - 1) / (x + 1)).
 */
static double ln1(double x)
{
	const double e = 2.718281828459045;
	double k = 0, z, z2, term, sum = 0;

	while (x > e) {
		x /= e;
		k++;
	}
	z = (x - 1) / (x + 1);
	z2 = z * z;
	term = z;
	for (int i = 1; i < 40; i += 2) {
		sum += term / i;
		term *= z2;
	}
	return k + 2 * sum;
}

static int hit_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct nsh_memory_hit *)a)->id;
	int64_t y = ((const struct nsh_memory_hit *)b)->id;

	return (x > y) - (x < y);
}

/* A rule in scope while ranking: only what the order needs. */
struct cand {
	int64_t id;	 /* the rule */
	int64_t said_ms; /* when it was last said */
	double score;	 /* full-text score against the task's text (0: none) */
	int specificity; /* 1 org, 2 repository, +1 per language/path narrowing */
	int len;	 /* tokens in its text */
};

/* The hit of rule @id in @hits (sorted by id), or NULL. */
static const struct nsh_memory_hit *find_hit(const struct nsh_memory_hit_list *hits, int64_t id)
{
	struct nsh_memory_hit key = {.id = id};

	return bsearch(&key, hits->v, hits->nr, sizeof(hits->v[0]), hit_cmp);
}

/*
 * BM25 scores (k1 1.2, b 0.75) of the @n rules of @c against the terms
 * whose counts are in @hits. The statistics are those of the rules in
 * scope: a word that most of them share says little about any one of them.
 */
static void score_rules(struct cand *c, size_t n, struct nsh_memory_hit_list *hits, size_t nterms)
{
	double idf[MAX_TERMS], avg = 0;
	size_t df[MAX_TERMS] = {0};

	if (!hits->nr)
		return;
	qsort(hits->v, hits->nr, sizeof(hits->v[0]), hit_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct nsh_memory_hit *h = find_hit(hits, c[i].id);

		if (!h)
			continue;
		avg += c[i].len;
		for (size_t t = 0; t < nterms; t++)
			df[t] += h->tf[t] > 0;
	}
	avg = avg > 0 ? avg / (double)hits->nr : 1;
	for (size_t t = 0; t < nterms; t++)
		idf[t] = ln1(((double)n - (double)df[t] + 0.5) / ((double)df[t] + 0.5) + 1);
	for (size_t i = 0; i < n; i++) {
		const struct nsh_memory_hit *h = find_hit(hits, c[i].id);
		double s = 0;

		if (!h)
			continue;
		for (size_t t = 0; t < nterms; t++) {
			double tf = h->tf[t];

			if (tf > 0)
				s += idf[t] * tf * 2.2 /
				     (tf + 1.2 * (0.25 + 0.75 * (double)c[i].len / avg));
		}
		c[i].score = s;
	}
}

static int rank_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->specificity != y->specificity)
		return y->specificity - x->specificity;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	if (x->said_ms != y->said_ms)
		return x->said_ms < y->said_ms ? 1 : -1;
	return (x->id < y->id) - (x->id > y->id);
}

static bool path_applies(const char *glob, const char *const *paths)
{
	if (!glob || !paths)
		return true;
	for (size_t i = 0; paths[i]; i++)
		if (!fnmatch(glob, paths[i], 0))
			return true;
	return false;
}

int nsh_memory_retrieve(struct nsh_store *st, const struct nsh_memory_query *q,
			struct nsh_memory_rule_list *ret, struct nsh_err *err)
{
	struct nsh_memory_cand_list rows = {0};
	struct nsh_memory_hit_list hits = {0};
	struct nsh_strvec terms = NSH_STRVEC_INIT;
	size_t limit = q->limit ? q->limit : NSH_MEMORY_LIMIT, n = 0;
	struct cand *cand = NULL;
	int rc;

	rc = check_name("org", q->org, true, err);
	if (!rc && q->repo)
		rc = check_repo(q->repo, err);
	if (!rc && q->repo &&
	    (strncmp(q->repo, q->org, strlen(q->org)) || q->repo[strlen(q->org)] != '/'))
		rc = nsh_err_set(err, NSH_EINVAL, "repository '%s' is not in org '%s'", q->repo,
				 q->org);
	if (!rc)
		rc = nsh_memory_expire(st, q->now_ms, q->ttl_ms, NULL, err);
	if (!rc)
		rc = nsh_store_memory_in_scope(st, q->org, q->repo, q->language, q->recipe,
					       NSH_MEMORY_CANDIDATES, &rows, err);
	if (rc)
		goto out;
	cand = nsh_xcalloc(rows.nr ? rows.nr : 1, sizeof(*cand));
	for (size_t i = 0; i < rows.nr; i++) {
		const struct nsh_memory_cand *m = &rows.v[i];

		if (!path_applies(m->path_glob, q->paths))
			continue;
		cand[n].id = m->id;
		cand[n].said_ms = m->said_ms;
		cand[n].specificity = (m->repo_scope ? 2 : 1) + m->language + !!m->path_glob;
		cand[n].len = m->len;
		n++;
	}
	if (q->text)
		query_terms(q->text, &terms);
	if (terms.nr && n) {
		rc = nsh_store_memory_fts(st, q->org, q->repo, (const char *const *)terms.v,
					  terms.nr, &hits, err);
		if (rc)
			goto out;
		score_rules(cand, n, &hits, terms.nr);
	}
	if (n)
		qsort(cand, n, sizeof(cand[0]), rank_cmp);
	for (size_t i = 0; i < n && i < limit; i++) {
		struct nsh_memory_rule *r = rule_push(ret);

		r->score = cand[i].score;
		r->specificity = cand[i].specificity;
		/* Candidates carry what ranking needs; read the whole row of those kept. */
		rc = nsh_store_memory_get(st, cand[i].id, &r->r, err);
		if (!rc)
			rc = load_details(st, r, err);
		if (rc)
			goto out;
		make_why(r, str_eq(r->r.scope, "repo") ? q->repo : NULL);
	}
out:
	nsh_strvec_release(&terms);
	free(hits.v);
	free(cand);
	nsh_memory_cand_list_release(&rows);
	return rc;
}

/* ---- JSON ---- */

static json_t *time_or_null(int64_t ms)
{
	char stamp[NSH_TIME_ISO_MAX];

	return ms ? json_string(nsh_time_iso8601(ms, stamp)) : json_null();
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *strvec_json(const struct nsh_strvec *v)
{
	json_t *a = json_array();

	for (size_t i = 0; i < v->nr; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

json_t *nsh_memory_rule_to_json(const struct nsh_memory_rule *r)
{
	const struct nsh_memory_rec *m = &r->r;
	json_t *o = json_object(), *src = NULL, *a;

	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "kind", json_string(m->kind ? m->kind : "text"));
	json_object_set_new(o, "rule", json_string(m->rule ? m->rule : ""));
	json_object_set_new(o, "recipe", str_or_null(m->recipe));
	json_object_set_new(o, "choice", str_or_null(m->choice));
	json_object_set_new(o, "alt", str_or_null(m->alt));
	json_object_set_new(o, "scope", json_string(m->scope ? m->scope : ""));
	json_object_set_new(o, "scope_value", str_or_null(m->scope_value));
	json_object_set_new(o, "org", str_or_null(m->org));
	json_object_set_new(o, "repos", strvec_json(&r->repos));
	json_object_set_new(o, "language", str_or_null(m->language));
	json_object_set_new(o, "path", str_or_null(m->path_glob));
	json_object_set_new(o, "state", json_string(m->state ? m->state : ""));
	if (!m->source || !(src = json_loads(m->source, JSON_REJECT_DUPLICATES, NULL)) ||
	    !json_is_object(src)) {
		json_decref(src);
		src = json_object();
	}
	json_object_set_new(o, "source", src);
	json_object_set_new(o, "reviewers", strvec_json(&r->reviewers));
	a = json_array();
	for (size_t i = 0; i < r->sources.nr; i++) {
		const struct nsh_memory_source_rec *s = &r->sources.v[i];

		json_array_append_new(
			a, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "reviewer", s->reviewer,
				     "repo", s->repo, "task", str_or_null(s->task_id), "pr",
				     str_or_null(s->pr), "comment",
				     s->comment_id ? json_integer(s->comment_id) : json_null(),
				     "at", time_or_null(s->created_ms)));
	}
	json_object_set_new(o, "sources", a);
	a = json_array();
	for (size_t i = 0; i < r->conflicts.nr; i++) {
		const struct nsh_memory_conflict_rec *c = &r->conflicts.v[i];

		json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:o}", "winner",
						   (json_int_t)c->winner_id, "loser",
						   (json_int_t)c->loser_id, "reason", c->reason,
						   "at", time_or_null(c->created_ms)));
	}
	json_object_set_new(o, "conflicts", a);
	json_object_set_new(o, "uses", json_integer(m->uses));
	a = json_array();
	for (size_t i = 0; i < r->tasks.nr; i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:o, s:o}", "task",
						   r->tasks.v[i].task_id, "uses",
						   (json_int_t)r->tasks.v[i].uses, "first",
						   time_or_null(r->tasks.v[i].first_ms), "last",
						   time_or_null(r->tasks.v[i].last_ms)));
	json_object_set_new(o, "tasks", a);
	json_object_set_new(o, "created_at", time_or_null(m->created_ms));
	json_object_set_new(o, "said_at", time_or_null(m->said_ms));
	json_object_set_new(o, "last_used_at", time_or_null(m->last_used_ms));
	json_object_set_new(o, "expires_at", time_or_null(m->expires_ms));
	json_object_set_new(o, "superseded_by",
			    m->superseded_by ? json_integer(m->superseded_by) : json_null());
	json_object_set_new(o, "promoted_at", time_or_null(m->promoted_ms));
	json_object_set_new(o, "promoted_by",
			    m->promoted_by
				    ? json_string(*m->promoted_by ? m->promoted_by : "reviewers")
				    : json_null());
	json_object_set_new(o, "forgotten_at", time_or_null(m->forgotten_ms));
	json_object_set_new(o, "forgotten_by", str_or_null(m->forgotten_by));
	json_object_set_new(o, "why", str_or_null(r->why));
	if (r->score > 0)
		json_object_set_new(o, "score", json_real(r->score));
	return o;
}
