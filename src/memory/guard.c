/*
 * The poisoning guard: review comments come from people who may not be
 * trusted, and a rule learned from "just skip the failing tests" would
 * make every later task worse. nsh_memory_guard() flags comments that ask
 * to disable tests or weaken checks, with word lists:
 *
 * 1. literal markers, matched in the lower-cased text: "--no-verify",
 *    "eslint-disable", "@ts-ignore", "[skip ci]", "it.skip(", "|| true", ...
 * 2. a verb that turns something off ("disable", "skip", "remove", "turn
 *    off", "lower", ...) followed within a few words of the same sentence
 *    by what it turns off ("tests", "assertions", "lint", "coverage", ...),
 *    or that thing followed by the verb ("the tests can be skipped"). A
 *    negation just before the verb ("don't skip", "never disable", "should
 *    not be removed", "instead of skipping") clears it.
 *
 * It errs on the side of flagging: a flagged comment is not lost, it is
 * refused and reported to a person.
 */
#include "memory/memory.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#include "core/banned.h"

#define WORD_MAX   24	/* bytes kept of one word */
#define WORDS_MAX  8192 /* words looked at */
#define AFTER_VERB 5	/* words after a verb where its object may be */
#define AFTER_OBJ  4	/* words after an object where a passive verb may be */
#define NEG_WINDOW 3	/* words before a verb where a negation counts */

enum reason {
	R_NONE,
	R_TESTS,
	R_ASSERT,
	R_COVERAGE,
	R_LINT,
	R_CI,
	R_HOOKS,
	R_CHECKS,
	R_FAIL,
	R_NET,
};

static const char *const reasons[] = {
	[R_NONE] = "",
	[R_TESTS] = "asks to disable tests",
	[R_ASSERT] = "asks to remove assertions",
	[R_COVERAGE] = "asks to lower coverage thresholds",
	[R_LINT] = "asks to turn off lint or type checks",
	[R_CI] = "asks to skip CI",
	[R_HOOKS] = "asks to bypass commit hooks",
	[R_CHECKS] = "asks to turn off checks",
	[R_FAIL] = "asks to ignore failures",
	[R_NET] = "asks to open the network or turn off the sandbox",
};

struct literal {
	const char *text;
	enum reason why;
};

static const struct literal literals[] = {
	{"--no-verify", R_HOOKS},
	{"[skip ci]", R_CI},
	{"[ci skip]", R_CI},
	{"[no ci]", R_CI},
	{"skip-checks: true", R_CI},
	{"eslint-disable", R_LINT},
	{"tslint:disable", R_LINT},
	{"@ts-ignore", R_LINT},
	{"@ts-nocheck", R_LINT},
	{"@ts-expect-error", R_LINT},
	{"noqa", R_LINT},
	{"nolint", R_LINT},
	{"pylint: disable", R_LINT},
	{"pylint:disable", R_LINT},
	{"type: ignore", R_LINT},
	{"rubocop:disable", R_LINT},
	{"@suppresswarnings", R_LINT},
	{"istanbul ignore", R_COVERAGE},
	{"c8 ignore", R_COVERAGE},
	{"pragma: no cover", R_COVERAGE},
	{"it.skip(", R_TESTS},
	{"describe.skip(", R_TESTS},
	{"test.skip(", R_TESTS},
	{"it.only(", R_TESTS},
	{"describe.only(", R_TESTS},
	{"xit(", R_TESTS},
	{"xdescribe(", R_TESTS},
	{"xtest(", R_TESTS},
	{"@pytest.mark.skip", R_TESTS},
	{"@pytest.mark.xfail", R_TESTS},
	{"pytest.skip(", R_TESTS},
	{"@unittest.skip", R_TESTS},
	{"@disabled", R_TESTS},
	{"@ignore", R_TESTS},
	{"#[ignore]", R_TESTS},
	{"t.skip(", R_TESTS},
	{"-dskiptests", R_TESTS},
	{"maven.test.skip", R_TESTS},
	{"--passwithnotests", R_TESTS},
	{"test.failure.ignore", R_FAIL},
	{"|| true", R_FAIL},
	{"|| exit 0", R_FAIL},
	{"continue-on-error", R_FAIL},
	{"allow_failure", R_FAIL},
	{"set +e", R_FAIL},
	{"--network open", R_NET},
	{"--network=open", R_NET},
	{"--no-sandbox", R_NET},
};

/* Words that turn something off, for every kind of object. */
static const char *const verbs[] = {
	"disable",    "disabled",    "disabling", "skip",     "skipped",   "skipping", "skips",
	"delete",     "deleted",     "deleting",  "remove",   "removed",   "removing", "drop",
	"dropped",    "dropping",    "ignore",	  "ignored",  "ignoring",  "bypass",   "bypassed",
	"bypassing",  "silence",     "silenced",  "mute",     "muted",	   "suppress", "suppressed",
	"deactivate", "deactivated", "xfail",	  "exclude",  "excluded",  "loosen",   "loosened",
	"relax",      "relaxed",     "weaken",	  "weakened", "lower",	   "lowered",  "lowering",
	"reduce",     "reduced",     "reducing",  "decrease", "decreased", "nuke",     "circumvent",
	"kill",	      "swallow",     "swallowed", "rid",      "off",	   "out",      "bypasses",
	"disables",   "removes",     "deletes",	  "ignores",
};

/* Verbs that fit failures: one ignores an error, one does not remove it. */
static const char *const fail_verbs[] = {
	"ignore",   "ignored",	"ignoring", "suppress", "suppressed", "silence",
	"silenced", "mute",	"muted",    "swallow",	"swallowed",  "skip",
	"skipped",  "skipping", "bypass",   "ignores",
};

struct object {
	const char *word;
	enum reason why;
};

static const struct object objects[] = {
	{"test", R_TESTS},	  {"tests", R_TESTS},	     {"testing", R_TESTS},
	{"spec", R_TESTS},	  {"specs", R_TESTS},	     {"suite", R_TESTS},
	{"suites", R_TESTS},	  {"unittest", R_TESTS},     {"unittests", R_TESTS},
	{"e2e", R_TESTS},	  {"testcase", R_TESTS},     {"testcases", R_TESTS},
	{"assert", R_ASSERT},	  {"asserts", R_ASSERT},     {"assertion", R_ASSERT},
	{"assertions", R_ASSERT}, {"expects", R_ASSERT},     {"expectations", R_ASSERT},
	{"coverage", R_COVERAGE}, {"threshold", R_COVERAGE}, {"thresholds", R_COVERAGE},
	{"lint", R_LINT},	  {"linter", R_LINT},	     {"linters", R_LINT},
	{"linting", R_LINT},	  {"eslint", R_LINT},	     {"tslint", R_LINT},
	{"prettier", R_LINT},	  {"clippy", R_LINT},	     {"flake8", R_LINT},
	{"pylint", R_LINT},	  {"rubocop", R_LINT},	     {"golangci", R_LINT},
	{"typecheck", R_LINT},	  {"typechecks", R_LINT},    {"typechecking", R_LINT},
	{"tsc", R_LINT},	  {"mypy", R_LINT},	     {"ci", R_CI},
	{"pipeline", R_CI},	  {"pipelines", R_CI},	     {"workflow", R_CI},
	{"workflows", R_CI},	  {"hook", R_HOOKS},	     {"hooks", R_HOOKS},
	{"precommit", R_HOOKS},	  {"husky", R_HOOKS},	     {"check", R_CHECKS},
	{"checks", R_CHECKS},	  {"checking", R_CHECKS},    {"verification", R_CHECKS},
	{"validation", R_CHECKS}, {"scan", R_CHECKS},	     {"scanner", R_CHECKS},
	{"scanners", R_CHECKS},	  {"sast", R_CHECKS},	     {"audit", R_CHECKS},
	{"strict", R_CHECKS},	  {"warnings", R_CHECKS},    {"failure", R_FAIL},
	{"failures", R_FAIL},	  {"failing", R_FAIL},	     {"fails", R_FAIL},
	{"error", R_FAIL},	  {"errors", R_FAIL},	     {"network", R_NET},
	{"egress", R_NET},	  {"firewall", R_NET},	     {"sandbox", R_NET},
	{"sandboxing", R_NET},	  {"proxy", R_NET},	     {"allowlist", R_NET},
};

/* Words that make the verb after them a refusal, not a request. */
static const char *const negations[] = {
	"not",	 "dont",    "never", "no",	"cant",	  "cannot", "shouldnt", "mustnt", "wont",
	"avoid", "without", "stop",  "instead", "doesnt", "didnt",  "nor",	"arent",  "isnt",
};

/* Words after an object that show it is about something else: "the test helper". */
static const char *const not_the_thing[] = {
	"helper", "helpers", "util", "utils",	"utility",  "utilities",
	"name",	  "names",   "typo", "fixture", "fixtures",
};

/* Phrases (space-separated words) that ask for an open network whatever the verb. */
static const char *const net_phrases[] = {
	"allow all network",	"allow all hosts",     "allow any host",     "allow all domains",
	"unrestricted network", "full network access", "network level open", "open network access",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *w, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(w, list[i]))
			return true;
	return false;
}

static enum reason object_of(const char *w)
{
	for (size_t i = 0; i < NELEM(objects); i++)
		if (!strcmp(w, objects[i].word))
			return objects[i].why;
	return R_NONE;
}

/* Reasons in order of importance: the first kind named wins. */
static bool more_important(enum reason a, enum reason b)
{
	return b == R_NONE || (a != R_NONE && a < b);
}

struct words {
	char (*w)[WORD_MAX + 1]; /* words; "" marks the end of a sentence */
	size_t nr;
};

/*
 * Split @text into lower-case words of letters and digits; apostrophes
 * inside a word are dropped ("don't" is "dont"); '.', '!', '?', ';' and
 * line ends close a sentence.
 */
static void split_words(const char *text, size_t len, struct words *out)
{
	size_t i = 0;

	out->w = nsh_xcalloc(WORDS_MAX, sizeof(*out->w));
	out->nr = 0;
	while (i < len && out->nr < WORDS_MAX) {
		unsigned char c = (unsigned char)text[i];

		if (isalnum(c)) {
			size_t n = 0;

			while (i < len) {
				c = (unsigned char)text[i];
				if (isalnum(c)) {
					if (n < WORD_MAX)
						out->w[out->nr][n++] = (char)tolower(c);
					i++;
				} else if (c == '\'' && i + 1 < len &&
					   isalnum((unsigned char)text[i + 1])) {
					i++;
				} else if (c == 0xe2 && i + 3 < len &&
					   (unsigned char)text[i + 1] == 0x80 &&
					   (unsigned char)text[i + 2] == 0x99 &&
					   isalnum((unsigned char)text[i + 3])) {
					i += 3; /* U+2019, the typographic apostrophe */
				} else {
					break;
				}
			}
			out->w[out->nr][n] = 0;
			out->nr++;
			continue;
		}
		if (strchr(".!?;\n", (char)c) && out->nr && out->w[out->nr - 1][0])
			out->w[out->nr++][0] = 0;
		i++;
	}
}

/*
 * Whether word @i is a verb that turns something off: "off" and "out" only
 * after "turn", "switch", "shut" or "comment"; "rid" only after "get".
 */
static bool is_verb(const struct words *ws, size_t i)
{
	const char *w = ws->w[i];
	const char *prev = i ? ws->w[i - 1] : "";

	if (!strcmp(w, "off"))
		return !strcmp(prev, "turn") || !strcmp(prev, "switch") || !strcmp(prev, "shut") ||
		       !strcmp(prev, "turned") || !strcmp(prev, "switched") ||
		       !strcmp(prev, "turning");
	if (!strcmp(w, "out"))
		return !strcmp(prev, "comment") || !strcmp(prev, "commented") ||
		       !strcmp(prev, "commenting") || !strcmp(prev, "rip");
	if (!strcmp(w, "rid"))
		return !strcmp(prev, "get") || !strcmp(prev, "getting");
	return in_list(w, verbs, NELEM(verbs));
}

/* Whether a negation comes shortly before word @i (in its sentence). */
static bool negated(const struct words *ws, size_t i)
{
	for (size_t k = 1; k <= NEG_WINDOW + 1 && k <= i; k++) {
		const char *w = ws->w[i - k];

		if (!w[0])
			break;
		if (in_list(w, negations, NELEM(negations)))
			return true;
	}
	return false;
}

/* The object word @j counts for verb @v: a failure only with the verbs that fit it. */
static enum reason object_for(const struct words *ws, size_t j, size_t v)
{
	enum reason r = object_of(ws->w[j]);

	if (r == R_CHECKS && j && !strcmp(ws->w[j - 1], "type"))
		r = R_LINT; /* "type checks", "type checking" */
	if (r == R_FAIL && !in_list(ws->w[v], fail_verbs, NELEM(fail_verbs)))
		return R_NONE;
	if (r != R_NONE && j + 1 < ws->nr &&
	    in_list(ws->w[j + 1], not_the_thing, NELEM(not_the_thing)))
		return R_NONE;
	return r;
}

static enum reason scan_words(const struct words *ws)
{
	enum reason best = R_NONE;

	for (size_t i = 0; i < ws->nr; i++) {
		if (!ws->w[i][0] || !is_verb(ws, i) || negated(ws, i))
			continue;
		/* verb, then what it turns off */
		for (size_t j = i + 1; j < ws->nr && j <= i + AFTER_VERB && ws->w[j][0]; j++) {
			enum reason r = object_for(ws, j, i);

			if (more_important(r, best))
				best = r;
		}
		/* what it turns off, then the verb: "the tests can be skipped" */
		for (size_t k = 1; k <= AFTER_OBJ && k <= i && ws->w[i - k][0]; k++) {
			enum reason r = object_for(ws, i - k, i);

			if (more_important(r, best))
				best = r;
		}
	}
	return best;
}

/* The text lower-cased with runs of white space as one space. */
static char *flatten(const char *text, size_t len)
{
	char *out = nsh_xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (isspace(c)) {
			if (n && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		out[n++] = (char)tolower(c);
	}
	out[n] = 0;
	return out;
}

/* Whether the words contain one of net_phrases. */
static bool net_phrase(const struct words *ws)
{
	size_t cap = ws->nr * (WORD_MAX + 1) + 3, n = 1;
	char *joined = nsh_xmalloc(cap);
	bool found = false;

	joined[0] = ' ';
	for (size_t i = 0; i < ws->nr; i++) {
		size_t wl = strlen(ws->w[i]);

		memcpy(joined + n, ws->w[i], wl);
		n += wl;
		joined[n++] = ' ';
	}
	joined[n] = 0;
	for (size_t i = 0; !found && i < NELEM(net_phrases); i++) {
		char *pat = nsh_xasprintf(" %s ", net_phrases[i]);

		found = strstr(joined, pat) != NULL;
		free(pat);
	}
	free(joined);
	return found;
}

int nsh_memory_guard(const char *comment, char **ret_reason)
{
	enum reason best = R_NONE, r;
	struct words ws = {0};
	size_t len;
	char *flat;

	if (!comment)
		return 0;
	len = strnlen(comment, NSH_MEMORY_COMMENT_MAX);
	flat = flatten(comment, len);
	for (size_t i = 0; i < NELEM(literals); i++)
		if (strstr(flat, literals[i].text) && more_important(literals[i].why, best))
			best = literals[i].why;
	split_words(comment, len, &ws);
	if (net_phrase(&ws) && more_important(R_NET, best))
		best = R_NET;
	r = scan_words(&ws);
	if (more_important(r, best))
		best = r;
	free(ws.w);
	free(flat);
	if (best == R_NONE)
		return 0;
	if (ret_reason)
		*ret_reason = nsh_xstrdup(reasons[best]);
	return 1;
}
