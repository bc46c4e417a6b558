/*
 * Internals of the agent loop: workspace-confined file access (wspath.c),
 * the tools (tools.c), stuck detection (stuck.c). No other module
 * includes this.
 */
#ifndef NSH_AGENT_AGENT_TOOLS_H
#define NSH_AGENT_AGENT_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/agent.h"
#include "core/buf.h"

struct nsh_err;

/* ---- workspace paths (wspath.c) ---- */

/**
 * Make @path relative to the workspace root into @out: "/workspace/"
 * stripped, "." and empty components dropped, ".." resolved lexically.
 * NSH_EDENIED for an absolute path elsewhere or a ".." that climbs out.
 * The root itself is ".".
 */
int ws_rel(const char *path, struct nsh_buf *out, struct nsh_err *err);
/** An O_PATH descriptor of the workspace root. */
int ws_open_root(const char *workspace, int *ret_fd, struct nsh_err *err);
/** openat2(@root, @rel, RESOLVE_BENEATH): NSH_EDENIED when it would leave the workspace. */
int ws_open(int root, const char *rel, int flags, mode_t mode, int *ret_fd, struct nsh_err *err);
/** Append the regular file @rel (at most @max bytes) to @out. */
int ws_read(int root, const char *rel, size_t max, struct nsh_buf *out, struct nsh_err *err);
/** Replace (or create, with its directories) @rel with @len bytes; never inside .git. */
int ws_write(int root, const char *rel, const char *data, size_t len, struct nsh_err *err);
/** Remove the file @rel (missing is fine). */
int ws_remove(int root, const char *rel, struct nsh_err *err);
/** Whether @rel is .git or inside it. */
bool ws_in_git(const char *rel);

/* ---- tools (tools.c) ---- */

#define TOOL_FILE_MAX	 (4u << 20)  /* largest file read or edited */
#define TOOL_OUTPUT_MAX	 (24u << 10) /* tool output shown to the model */
#define TOOL_RUN_TIMEOUT 120	     /* default seconds for "run" */

/* What the loop and the tools share during one run. */
struct tool_ctx {
	const struct nsh_agent_run *run; /* the run (borrowed) */
	int root;			 /* O_PATH fd of the workspace */
	bool finished;			 /* finish was accepted */
	enum nsh_agent_outcome outcome;	 /* what finish said */
	char *summary;			 /* finish's summary */
	bool passed;			 /* verify: finish's verdict */
	bool general;			 /* code: the feedback is a rule for every sibling */
	json_t *findings;		 /* verify: finish's findings */
	json_t *report;			 /* verify: the pipeline's report, or NULL */
	struct nsh_llm_usage sub_usage;	 /* spent by consultations */
	double sub_cost;
	int64_t sub_model_ns; /* of which waiting for the model */
};

/* The output of one call. */
struct tool_out {
	struct nsh_buf text; /* what the model reads */
	bool is_error;	     /* the call failed */
	bool progress;	     /* it changed something (file, spec) */
};

/** The tools offered to @role: the host's capabilities decide apply_recipe and ask_user. */
size_t agent_tools_for(enum nsh_agent_role role, const struct nsh_agent_host *host, int depth,
		       struct nsh_llm_tool *ret, size_t cap);

/**
 * Run tool @name with the JSON text @args. Problems of the call (bad
 * arguments, a path outside, a failing command) are reported to the model
 * through @out, never as errors: this returns nothing.
 */
void agent_tool_call(struct tool_ctx *t, const char *name, const char *args, struct tool_out *out);

/** One line describing a call for events and masked outputs: "read_file src/a.js". */
char *agent_call_brief(const char *name, const char *args);

/* ---- stuck detection (stuck.c) ---- */

#define STUCK_WINDOW 12

struct stuck {
	uint64_t act[STUCK_WINDOW]; /* hashes of the newest calls (name + arguments) */
	uint64_t obs[STUCK_WINDOW]; /* hashes of their results */
	bool err[STUCK_WINDOW];	    /* whether each failed */
	char *names[STUCK_WINDOW];  /* tool names, for messages */
	size_t n;		    /* entries in use (newest last) */
	uint64_t *seen;		    /* every (call, result) hash of the run */
	size_t nseen, seen_alloc;
	int idle;     /* calls since the last progress */
	int idle_max; /* calls without progress that count as stuck */
};

void stuck_init(struct stuck *s, int idle_max);
void stuck_release(struct stuck *s);
/** Record one call and its result. */
void stuck_observe(struct stuck *s, const char *name, const char *args, const char *result,
		   bool is_error, bool progress);
/** A description of how the run is stuck (caller frees), or NULL. */
char *stuck_check(const struct stuck *s);
/** Forget the recent calls (after a warning), keeping what was seen. */
void stuck_reset(struct stuck *s);

/** 64-bit FNV-1a of @len bytes, continuing from @h (start with STUCK_HASH_SEED). */
#define STUCK_HASH_SEED 0xcbf29ce484222325ull
uint64_t stuck_hash(uint64_t h, const void *p, size_t len);

#endif
