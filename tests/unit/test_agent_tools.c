/*
 * Tests for the agents' tools on a real temporary workspace: confinement
 * of paths (".." and symbolic links), read windows with line numbers,
 * listing and searching, writes and exact edits with syntax checks that
 * reject broken edits, commands with capped output, git_diff, the spec and
 * finish's rules; plus stuck detection and budgets.
 */
#include "agent/agent.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_tools.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "forge/git.h"
#include "test.h"

#include "core/banned.h"

static char *ws;      /* the workspace */
static char *spec;    /* the in-memory spec of the fake host */
static int spec_puts; /* versions written */

static int h_exec(void *ctx, const char *const *argv, const char *cwd, int64_t timeout_ms,
		  size_t out_max, struct nsh_agent_exec *ret, struct nsh_err *err)
{
	(void)ctx;
	return nsh_agent_exec_local(ws, argv, cwd, timeout_ms, out_max, ret, err);
}

static int h_spec_get(void *ctx, char **ret, struct nsh_err *err)
{
	(void)ctx;
	if (!spec)
		return nsh_err_set(err, NSH_ENOTFOUND, "no spec");
	*ret = strdup(spec);
	return 0;
}

static int h_spec_put(void *ctx, const char *body, struct nsh_err *err)
{
	(void)ctx;
	(void)err;
	free(spec);
	spec = strdup(body);
	spec_puts++;
	return 0;
}

static struct nsh_agent_host host = {
	.exec = h_exec, .spec_get = h_spec_get, .spec_put = h_spec_put};

static void put(const char *rel, const char *text)
{
	struct nsh_buf p = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	char *slash;

	nsh_fs_join(&p, ws, rel);
	slash = strrchr(p.buf, '/');
	*slash = '\0';
	nsh_fs_mkdir_p(p.buf, 0755, &err);
	*slash = '/';
	if (nsh_fs_write_atomic(p.buf, text, strlen(text), 0644, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	nsh_buf_release(&p);
}

static char *get(const char *rel)
{
	struct nsh_buf p = NSH_BUF_INIT, b = NSH_BUF_INIT;
	char *s = NULL;

	nsh_fs_join(&p, ws, rel);
	if (!nsh_fs_read_file(p.buf, &b, 1 << 20, NULL))
		s = nsh_buf_detach(&b, NULL);
	nsh_buf_release(&p);
	nsh_buf_release(&b);
	return s;
}

/* Call tool @name of @role with @args; the output text goes to *@ret (caller frees). */
static bool call(enum nsh_agent_role role, const char *name, const char *args, char **ret,
		 struct tool_ctx *keep)
{
	struct nsh_agent_run run = {.role = role, .task = "t", .workspace = ws, .host = &host};
	struct tool_ctx t;
	struct tool_out o;
	struct nsh_err err = NSH_ERR_INIT;

	memset(&t, 0, sizeof(t));
	if (keep)
		t = *keep;
	t.run = &run;
	if (ws_open_root(ws, &t.root, &err))
		abort();
	memset(&o, 0, sizeof(o));
	nsh_buf_init(&o.text, 8u << 20);
	agent_tool_call(&t, name, args, &o);
	close(t.root);
	*ret = nsh_buf_detach(&o.text, NULL);
	if (keep) {
		t.run = NULL;
		*keep = t;
	} else {
		free(t.summary);
		json_decref(t.findings);
	}
	return !o.is_error;
}

#define HAS(s, sub) (strstr((s), (sub)) != NULL)

static void test_rel_paths(void)
{
	static const struct {
		const char *in, *out;
	} ok[] = {{"a/b.c", "a/b.c"},
		  {"./a//b.c", "a/b.c"},
		  {"/workspace/a.c", "a.c"},
		  {"/workspace", "."},
		  {"", "."},
		  {"a/../b", "b"},
		  {"a/./b/", "a/b"}};
	static const char *const bad[] = {"/etc/passwd", "..", "../x", "a/../../x", "/workspacex"};
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(ws_rel(ok[i].in, &b, &err), 0);
		CHECK_STR(b.buf, ok[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(ws_rel(bad[i], &b, &err), NSH_EDENIED);
		CHECK(HAS(err.msg, "outside the workspace"));
	}
	nsh_buf_release(&b);
}

static void test_confinement(void)
{
	struct nsh_buf link = NSH_BUF_INIT;
	char *out;

	put("inside.txt", "hello\n");
	nsh_fs_join(&link, ws, "escape");
	CHECK_INT(symlink("/etc", link.buf), 0);
	nsh_buf_reset(&link);
	nsh_fs_join(&link, ws, "inner");
	CHECK_INT(symlink("inside.txt", link.buf), 0);

	CHECK(!call(NSH_AGENT_CODE, "read_file", "{\"path\":\"escape/passwd\"}", &out, NULL));
	CHECK(HAS(out, "leads outside the workspace"));
	CHECK(!HAS(out, "root:"));
	free(out);
	CHECK(!call(NSH_AGENT_CODE, "read_file", "{\"path\":\"/etc/passwd\"}", &out, NULL));
	CHECK(HAS(out, "outside the workspace") && !HAS(out, "root:"));
	free(out);
	CHECK(!call(NSH_AGENT_RESEARCH, "search", "{\"pattern\":\"root\",\"path\":\"../..\"}", &out,
		    NULL));
	CHECK(HAS(out, "outside the workspace"));
	free(out);
	CHECK(!call(NSH_AGENT_CODE, "list_files", "{\"path\":\"escape\"}", &out, NULL));
	CHECK(HAS(out, "outside the workspace"));
	free(out);
	/* a write through the link replaces the link, never the target */
	CHECK(!call(NSH_AGENT_CODE, "write_file", "{\"path\":\"escape/x\",\"content\":\"y\"}", &out,
		    NULL));
	free(out);
	CHECK(!nsh_fs_exists("/etc/x"));
	/* a link that stays inside is fine */
	CHECK(call(NSH_AGENT_CODE, "read_file", "{\"path\":\"inner\"}", &out, NULL));
	CHECK(HAS(out, "hello"));
	free(out);
	/* .git is never written */
	CHECK(!call(NSH_AGENT_CODE, "write_file",
		    "{\"path\":\".git/hooks/pre-commit\",\"content\":\"x\"}", &out, NULL));
	CHECK(HAS(out, "refusing to write inside .git"));
	free(out);
	nsh_buf_release(&link);
}

static void test_read_window(void)
{
	char *out;

	put("ten.txt", "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n");
	CHECK(call(NSH_AGENT_RESEARCH, "read_file",
		   "{\"path\":\"ten.txt\",\"start_line\":3,\"max_lines\":2}", &out, NULL));
	CHECK(HAS(out, "ten.txt (lines 3-4 of 10)\n"));
	CHECK(HAS(out, "     3  l3\n     4  l4\n"));
	CHECK(!HAS(out, "l5"));
	CHECK(HAS(out, "(6 more lines; continue with start_line=5)"));
	free(out);
	CHECK(!call(NSH_AGENT_RESEARCH, "read_file", "{\"path\":\"ten.txt\",\"start_line\":11}",
		    &out, NULL));
	CHECK(HAS(out, "past the end"));
	free(out);
	CHECK(!call(NSH_AGENT_RESEARCH, "read_file", "{\"path\":\"nope.txt\"}", &out, NULL));
	CHECK(HAS(out, "no such file"));
	free(out);
	CHECK(!call(NSH_AGENT_RESEARCH, "read_file", "{\"start_line\":1}", &out, NULL));
	CHECK(HAS(out, "missing argument 'path'"));
	free(out);
}

static void test_list_and_search(void)
{
	char *out;

	put("src/app.js", "const limit = 5;\nfunction login() {}\n");
	put("src/lib/util.js", "// rate limit helper\n");
	put("node_modules/x/index.js", "limit\n");
	put("README.md", "limit docs\n");
	CHECK(call(NSH_AGENT_RESEARCH, "list_files", "{\"depth\":3}", &out, NULL));
	CHECK(HAS(out, "src/\n") && HAS(out, "    lib/\n") && HAS(out, "util.js"));
	CHECK(HAS(out, "node_modules/ (not listed)"));
	CHECK(!HAS(out, "index.js"));
	free(out);
	CHECK(call(NSH_AGENT_RESEARCH, "search", "{\"pattern\":\"limit\",\"include\":\"*.js\"}",
		   &out, NULL));
	CHECK(HAS(out, "src/app.js:1: const limit = 5;"));
	CHECK(HAS(out, "src/lib/util.js:1: // rate limit helper"));
	CHECK(!HAS(out, "README") && !HAS(out, "node_modules"));
	free(out);
	CHECK(call(NSH_AGENT_RESEARCH, "search",
		   "{\"pattern\":\"^function [a-z]+\",\"path\":\"src/"
		   "app.js\"}",
		   &out, NULL));
	CHECK(HAS(out, "src/app.js:2: function login() {}"));
	free(out);
	CHECK(call(NSH_AGENT_RESEARCH, "search", "{\"pattern\":\"zebra\"}", &out, NULL));
	CHECK(HAS(out, "no matches for 'zebra'"));
	free(out);
	CHECK(!call(NSH_AGENT_RESEARCH, "search", "{\"pattern\":\"(\"}", &out, NULL));
	CHECK(HAS(out, "invalid regular expression"));
	free(out);
}

static void test_write_and_edit(void)
{
	char *out, *s;

	CHECK(call(NSH_AGENT_CODE, "write_file",
		   "{\"path\":\"lib/new.js\",\"content\":\"module.exports = 1;\\n\"}", &out, NULL));
	CHECK(HAS(out, "created 'lib/new.js' (1 lines"));
	free(out);
	s = get("lib/new.js");
	CHECK_STR(s, "module.exports = 1;\n");
	free(s);

	put("app.js", "function a() {\n  return 1;\n}\nfunction b() {\n  return 1;\n}\n");
	/* exactly once */
	CHECK(call(NSH_AGENT_CODE, "edit_file",
		   "{\"path\":\"app.js\",\"old_text\":\"function b() {\\n  return 1;\","
		   "\"new_text\":\"function b() {\\n  return 2;\"}",
		   &out, NULL));
	CHECK(HAS(out, "edited 'app.js': lines 4-5 now read:"));
	CHECK(HAS(out, "     5    return 2;"));
	free(out);
	s = get("app.js");
	CHECK_STR(s, "function a() {\n  return 1;\n}\nfunction b() {\n  return 2;\n}\n");
	free(s);
	/* twice: refused with where */
	CHECK(!call(NSH_AGENT_CODE, "edit_file",
		    "{\"path\":\"app.js\",\"old_text\":\"function\",\"new_text\":\"fn\"}", &out,
		    NULL));
	CHECK(HAS(out, "occurs 2 times") && HAS(out, "line 1"));
	free(out);
	/* not found: with a hint */
	CHECK(!call(NSH_AGENT_CODE, "edit_file",
		    "{\"path\":\"app.js\",\"old_text\":\"function a() {\\n    return 1;\","
		    "\"new_text\":\"x\"}",
		    &out, NULL));
	CHECK(HAS(out, "old_text was not found") && HAS(out, "is at line 1"));
	free(out);
	/* a broken edit of valid JavaScript is rejected and the file unchanged */
	CHECK(!call(NSH_AGENT_CODE, "edit_file",
		    "{\"path\":\"app.js\",\"old_text\":\"  return 2;\\n}\",\"new_text\":\"  "
		    "return (2;\\n}\"}",
		    &out, NULL));
	CHECK(HAS(out, "would break 'app.js'") && HAS(out, "SyntaxError"));
	free(out);
	s = get("app.js");
	CHECK_STR(s, "function a() {\n  return 1;\n}\nfunction b() {\n  return 2;\n}\n");
	free(s);
	/* a new JSON file that does not parse is not created */
	CHECK(!call(NSH_AGENT_CODE, "write_file", "{\"path\":\"cfg.json\",\"content\":\"{oops\"}",
		    &out, NULL));
	CHECK(HAS(out, "does not pass its syntax check"));
	free(out);
	CHECK(!nsh_fs_exists("cfg.json"));
	s = get("cfg.json");
	CHECK(s == NULL);
	/* a file broken before may be edited step by step */
	put("broken.js", "function x( {\n}\n");
	CHECK(call(NSH_AGENT_CODE, "edit_file",
		   "{\"path\":\"broken.js\",\"old_text\":\"}\",\"new_text\":\"};\"}", &out, NULL));
	CHECK(HAS(out, "still fails its syntax check"));
	free(out);
	/* research and verify cannot edit */
	CHECK(!call(NSH_AGENT_RESEARCH, "write_file", "{\"path\":\"x\",\"content\":\"y\"}", &out,
		    NULL));
	CHECK(HAS(out, "no tool 'write_file' for the research agent"));
	free(out);
}

static void test_run(void)
{
	char *out;

	CHECK(!call(NSH_AGENT_CODE, "run", "{\"command\":\"echo hi; echo oops >&2; exit 3\"}", &out,
		    NULL));
	CHECK(HAS(out, "exit code 3\n--- stdout ---\nhi\n--- stderr ---\noops\n"));
	free(out);
	CHECK(call(NSH_AGENT_CODE, "run", "{\"command\":\"true\"}", &out, NULL));
	CHECK_STR(out, "exit code 0\n(no output)\n");
	free(out);
	CHECK(!call(NSH_AGENT_CODE, "run", "{\"command\":\"sleep 5\",\"timeout_seconds\":1}", &out,
		    NULL));
	CHECK(HAS(out, "timed out after 1 s"));
	free(out);
	/* long output keeps its head and tail */
	CHECK(call(NSH_AGENT_CODE, "run", "{\"command\":\"seq 1 20000\"}", &out, NULL));
	CHECK(HAS(out, "\n1\n2\n") && HAS(out, "\n20000\n") && HAS(out, "bytes left out"));
	CHECK(strlen(out) < TOOL_OUTPUT_MAX + 1024);
	free(out);
	CHECK(!call(NSH_AGENT_CODE, "run", "{\"command\":42}", &out, NULL));
	CHECK(HAS(out, "'command' must be a string"));
	free(out);
	CHECK(!call(NSH_AGENT_CODE, "run", "{\"command\":", &out, NULL));
	CHECK(HAS(out, "not valid JSON"));
	free(out);
}

static void test_git_diff(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *out;

	put("tracked.txt", "one\n");
	CHECK_INT(nsh_git(ws, NULL, &err, "init", "-q", NULL), 0);
	CHECK_INT(nsh_git(ws, NULL, &err, "add", "tracked.txt", NULL), 0);
	CHECK_INT(nsh_git(ws, NULL, &err, "commit", "-qm", "base", NULL), 0);
	CHECK(call(NSH_AGENT_VERIFY, "git_diff", "{\"path\":\"tracked.txt\"}", &out, NULL));
	CHECK_STR(out, "no changes\n");
	free(out);
	put("tracked.txt", "two\n");
	CHECK(call(NSH_AGENT_VERIFY, "git_diff", "{}", &out, NULL));
	CHECK(HAS(out, " M tracked.txt") && HAS(out, "-one\n+two\n"));
	CHECK(HAS(out, "?? app.js")); /* new files are named */
	free(out);
}

static void test_spec(void)
{
	char *out;

	free(spec);
	spec = strdup("# Task\n\nRate limit.\n\n## Plan\n\nold plan\n\n## Acceptance criteria\n\n- "
		      "429 after 5 tries\n");
	CHECK(call(NSH_AGENT_RESEARCH, "update_spec",
		   "{\"section\":\"Plan\",\"content\":\"1. add middleware\\n2. test\"}", &out,
		   NULL));
	CHECK(HAS(out, "spec updated: section 'Plan'"));
	free(out);
	CHECK_STR(spec, "# Task\n\nRate limit.\n\n## Plan\n\n1. add middleware\n2. test\n\n## "
			"Acceptance criteria\n\n- 429 after 5 tries\n");
	CHECK(call(NSH_AGENT_CODE, "update_spec",
		   "{\"section\":\"Decisions\",\"content\":\"in "
		   "memory store\"}",
		   &out, NULL));
	free(out);
	CHECK(HAS(spec, "- 429 after 5 tries\n\n## Decisions\n\nin memory store\n"));
	/* a JSON spec gets a key */
	free(spec);
	spec = strdup("{\"title\":\"x\"}");
	CHECK(call(NSH_AGENT_RESEARCH, "update_spec", "{\"section\":\"Plan\",\"content\":\"p\"}",
		   &out, NULL));
	free(out);
	CHECK(HAS(spec, "\"plan\": \"p\""));
	CHECK(spec_puts == 3);
}

static void test_finish_rules(void)
{
	struct tool_ctx keep;
	char *out;

	memset(&keep, 0, sizeof(keep));
	CHECK(!call(NSH_AGENT_VERIFY, "finish", "{\"summary\":\"ok\"}", &out, &keep));
	CHECK(HAS(out, "passed: true or false") && !keep.finished);
	free(out);
	CHECK(!call(NSH_AGENT_VERIFY, "finish", "{\"summary\":\"bad\",\"passed\":false}", &out,
		    &keep));
	CHECK(HAS(out, "needs findings"));
	free(out);
	keep.report = json_pack("{s:b}", "passed", 0);
	CHECK(!call(NSH_AGENT_VERIFY, "finish", "{\"summary\":\"ok\",\"passed\":true}", &out,
		    &keep));
	CHECK(HAS(out, "pipeline failed"));
	free(out);
	CHECK(call(NSH_AGENT_VERIFY, "finish",
		   "{\"summary\":\"no\",\"passed\":false,\"findings\":[{\"file\":\"a.js\",\"line\":"
		   "3,\"message\":\"missing test\"}]}",
		   &out, &keep));
	CHECK(keep.finished && !keep.passed && json_array_size(keep.findings) == 1);
	CHECK_INT(keep.outcome, NSH_AGENT_DONE);
	free(out);
	json_decref(keep.report);
	json_decref(keep.findings);
	free(keep.summary);
	memset(&keep, 0, sizeof(keep));
	CHECK(call(NSH_AGENT_CODE, "finish", "{\"summary\":\"cannot\",\"status\":\"blocked\"}",
		   &out, &keep));
	CHECK_INT(keep.outcome, NSH_AGENT_BLOCKED);
	CHECK_STR(keep.summary, "cannot");
	CHECK(!keep.general);
	free(out);
	free(keep.summary);
	/* a revision's feedback marked as a rule for the whole change */
	memset(&keep, 0, sizeof(keep));
	CHECK(!call(NSH_AGENT_CODE, "finish", "{\"summary\":\"x\",\"general\":\"yes\"}", &out,
		    &keep));
	CHECK(HAS(out, "general must be true or false") && !keep.finished);
	free(out);
	CHECK(call(NSH_AGENT_CODE, "finish", "{\"summary\":\"documented\",\"general\":true}", &out,
		   &keep));
	CHECK(keep.finished && keep.general);
	free(out);
	free(keep.summary);
}

static void test_tool_sets(void)
{
	struct nsh_llm_tool t[16];
	struct nsh_agent_host h = host;
	size_t n;
	bool has_write = false, has_consult = false, has_ask = false;

	n = agent_tools_for(NSH_AGENT_RESEARCH, &h, 0, t, 16);
	for (size_t i = 0; i < n; i++) {
		has_write |= !strcmp(t[i].name, "write_file") || !strcmp(t[i].name, "edit_file") ||
			     !strcmp(t[i].name, "run");
		has_ask |= !strcmp(t[i].name, "ask_user");
	}
	CHECK(!has_write);
	CHECK(!has_ask); /* the host cannot ask */
	n = agent_tools_for(NSH_AGENT_CODE, &h, 0, t, 16);
	for (size_t i = 0; i < n; i++)
		has_consult |= !strcmp(t[i].name, "consult_research");
	CHECK(has_consult);
	for (size_t i = 0; i < n; i++)
		CHECK(strcmp(t[i].name, "apply_recipe")); /* no recipe engine on this host */
	/* every schema is JSON */
	for (size_t i = 0; i < n; i++) {
		json_t *v = NULL;

		CHECK_INT(nsh_json_parse(t[i].schema, strlen(t[i].schema), &v, NULL), 0);
		CHECK(json_is_object(v));
		json_decref(v);
	}
}

static void test_stuck(void)
{
	struct stuck s;
	char *why;

	stuck_init(&s, 5);
	stuck_observe(&s, "read_file", "{\"path\":\"a\"}", "A", false, false);
	stuck_observe(&s, "read_file", "{\"path\":\"a\"}", "A", false, false);
	CHECK(stuck_check(&s) == NULL);
	stuck_observe(&s, "read_file", "{\"path\":\"a\"}", "A", false, false);
	why = stuck_check(&s);
	CHECK(why && HAS(why, "same call to 'read_file'"));
	free(why);
	stuck_reset(&s);
	/* the same error from different calls */
	stuck_observe(&s, "run", "{\"command\":\"npm test\"}", "error: x", true, false);
	stuck_observe(&s, "run", "{\"command\":\"npm t\"}", "error: x", true, false);
	stuck_observe(&s, "run", "{\"command\":\"npm run test\"}", "error: x", true, false);
	why = stuck_check(&s);
	CHECK(why && HAS(why, "same error"));
	free(why);
	stuck_reset(&s);
	/* A-B-A-B-A-B */
	for (int i = 0; i < 3; i++) {
		stuck_observe(&s, "edit_file", "{\"a\":1}", "edited", false, true);
		stuck_observe(&s, "edit_file", "{\"a\":2}", "edited back", false, true);
	}
	why = stuck_check(&s);
	CHECK(why && HAS(why, "alternating"));
	free(why);
	stuck_reset(&s);
	/* different calls without news */
	stuck_observe(&s, "read_file", "{\"path\":\"x\"}", "X", false, false); /* news */
	CHECK(stuck_check(&s) == NULL);
	for (int i = 0; i < 5; i++) {
		char args[32];

		snprintf(args, sizeof(args), "{\"n\":%d}", i);
		stuck_observe(&s, "search", args, "error: nothing", true, false);
		stuck_observe(&s, "read_file", "{\"path\":\"x\"}", "X", false, false);
	}
	why = stuck_check(&s);
	CHECK(why && HAS(why, "without progress"));
	free(why);
	stuck_release(&s);
}

static void test_budget(void)
{
	struct nsh_agent_budget *b = nsh_agent_budget_new(1000, 0);
	struct nsh_llm_usage u = {600, 300, 0, 0};
	char why[128];
	int64_t max;

	nsh_agent_budget_charge(b, &u, 0.5);
	CHECK(!nsh_agent_budget_exceeded(b, why, sizeof(why)));
	nsh_agent_budget_charge(b, &u, 0.5);
	CHECK(nsh_agent_budget_exceeded(b, why, sizeof(why)));
	CHECK_STR(why, "token budget of 1000 reached (1800 used)");
	CHECK(nsh_agent_budget_answer(b, "continue"));
	nsh_agent_budget_get(b, NULL, NULL, &max, NULL);
	CHECK_INT(max, 2800); /* as much again, above what is spent */
	CHECK(nsh_agent_budget_answer(b, "+500k"));
	nsh_agent_budget_get(b, NULL, NULL, &max, NULL);
	CHECK_INT(max, 502800); /* 500k more */
	CHECK(!nsh_agent_budget_answer(b, " Stop. "));
	nsh_agent_budget_free(b);

	b = nsh_agent_budget_new(0, 1.0);
	nsh_agent_budget_charge(b, &u, 1.25);
	CHECK(nsh_agent_budget_exceeded(b, why, sizeof(why)));
	CHECK(HAS(why, "cost budget of $1.00"));
	CHECK(nsh_agent_budget_answer(b, "$5"));
	CHECK(!nsh_agent_budget_exceeded(b, NULL, 0));
	nsh_agent_budget_free(b);

	/* a plan's caps are named, with the figure, also after a raise */
	b = nsh_agent_budget_new(1000, 1.0);
	nsh_agent_budget_set_plan(b, "pro", true, false);
	CHECK_STR(nsh_agent_budget_plan(b), "pro");
	nsh_agent_budget_charge(b, &u, 0.25);
	nsh_agent_budget_charge(b, &u, 0.25);
	CHECK(nsh_agent_budget_exceeded(b, why, sizeof(why)));
	CHECK_STR(why, "token budget of 1000 (plan 'pro') reached (1800 used)");
	CHECK(nsh_agent_budget_answer(b, "500"));
	nsh_agent_budget_charge(b, &u, 0.25);
	CHECK(nsh_agent_budget_exceeded(b, why, sizeof(why)));
	CHECK_STR(why, "token budget of 2300 (raised; plan 'pro' has 1000) reached (2700 used)");
	CHECK(nsh_agent_budget_answer(b, "10k"));
	nsh_agent_budget_charge(b, &u, 0.5);
	/* the cost cap is [llm]'s, not the plan's: no plan named */
	CHECK(nsh_agent_budget_exceeded(b, why, sizeof(why)));
	CHECK_STR(why, "cost budget of $1.00 reached ($1.2500 spent)");
	nsh_agent_budget_set_plan(b, "pro", false, false);
	CHECK(nsh_agent_budget_plan(b) == NULL);
	nsh_agent_budget_free(b);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	ws = t_tmpdir();
	RUN(test_rel_paths);
	RUN(test_confinement);
	RUN(test_read_window);
	RUN(test_list_and_search);
	RUN(test_write_and_edit);
	RUN(test_run);
	RUN(test_git_diff);
	RUN(test_spec);
	RUN(test_finish_rules);
	RUN(test_tool_sets);
	RUN(test_stuck);
	RUN(test_budget);
	nsh_fs_remove_tree(ws, &err);
	free(ws);
	free(spec);
	return TEST_DONE();
}
