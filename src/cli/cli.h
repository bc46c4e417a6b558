/*
 * The command-line front end. src/main.c holds the table of commands and
 * hands it to nsh_cli_run(); each command family lives in its own file
 * under src/cli/ and exports one struct nsh_cli_cmd per command.
 *
 * Exit codes (DESIGN.md section 6): 0 success, 1 failure, 2 bad usage,
 * each failure reported as one line on stderr that names the problem.
 */
#ifndef NSH_CLI_CLI_H
#define NSH_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct nsh_err;
struct nsh_store;
struct nsh_config;
struct nsh_forge;

enum {
	NSH_EXIT_OK = 0,
	NSH_EXIT_FAIL = 1,
	NSH_EXIT_USAGE = 2,
};

/* What every command gets: the resolved home and configuration. */
struct nsh_cli {
	const char *home;		       /* $NIGHTSHIFT_HOME, resolved, not yet created */
	struct nsh_config *config;	       /* parsed config file plus environment */
	bool tty;			       /* stdout is a terminal */
	bool color;			       /* tty and NO_COLOR unset */
	const struct nsh_cli_cmd *const *cmds; /* the command table, for help */
	size_t ncmds;			       /* entries in cmds */
};

struct nsh_cli_cmd {
	const char *name;    /* first word on the command line */
	const char *usage;   /* synopsis after "nightshift ", e.g. "show TASK [--json]" */
	const char *summary; /* one line for "nightshift help" */
	const char *help;    /* longer text for "nightshift help NAME", may be NULL */
	/* Run with argv[0] the command name; returns an exit code. */
	int (*run)(struct nsh_cli *cli, int argc, char **argv);
};

/** Parse global options, load the configuration and run one command. */
int nsh_cli_run(const struct nsh_cli_cmd *const *cmds, size_t ncmds, int argc, char **argv);

/** Print "nightshift: error: <msg>" and return the exit code for @err. */
int nsh_cli_fail(const struct nsh_err *err);

/**
 * Print "nightshift: error: <reason> (usage: nightshift <usage>)" as one
 * line (without the usage part when @cmd is NULL); returns 2.
 */
int nsh_cli_usage(const struct nsh_cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * Open (creating when needed) the home directory and its store. The caller
 * closes the store with nsh_store_close().
 */
int nsh_cli_open_store(struct nsh_cli *cli, struct nsh_store **ret, struct nsh_err *err);

/**
 * Open the store and the local forge of @cli's home; the caller closes
 * both (nsh_forge_close(), nsh_store_close()).
 */
int nsh_cli_open_forge(struct nsh_cli *cli, struct nsh_store **ret_store, struct nsh_forge **ret,
		       struct nsh_err *err);

/**
 * The usage error after getopt_long() returned @c for argv[optind - 1]:
 * ':' for an option missing its value, else an unknown option. Returns 2.
 */
int nsh_cli_bad_option(const struct nsh_cli_cmd *cmd, int c, char **argv);

/** Print @v (not consumed) as indented JSON followed by a newline. */
void nsh_cli_print_json(const json_t *v);

/** "4s", "3m", "2h", "5d": how long ago @ms (epoch milliseconds) was. */
void nsh_cli_age(int64_t ms, char out[16]);

/**
 * Render task @task_id's event log on stdout (as JSON lines with @json)
 * from the start until the task ends; *@ret_code is then NSH_EXIT_OK when
 * it completed, NSH_EXIT_FAIL otherwise. Store errors only.
 */
int nsh_cli_follow(struct nsh_store *s, const char *task_id, bool json, int *ret_code,
		   struct nsh_err *err);

/**
 * Drive task @id in this process (a scheduler with the orchestrator's
 * pipeline, at most @max_sandboxes at once) until it ends, rendering its
 * log on stdout (JSON lines with @json) and then, without @json, the table
 * of its jobs. SIGINT and SIGTERM stop it cleanly (the task stays as it
 * is, for "nightshift run --resume"). Returns the exit code.
 */
int nsh_cli_drive(struct nsh_cli *cli, struct nsh_store *s, const char *id, int max_sandboxes,
		  bool json);

/** Print the table of a task's jobs: repository, risk, changes, tests, PR, state. */
void nsh_cli_task_summary(struct nsh_store *s, const char *task_id);

/* Commands; src/main.c lists them. */
extern const struct nsh_cli_cmd nsh_cmd_help;
extern const struct nsh_cli_cmd nsh_cmd_version;
extern const struct nsh_cli_cmd nsh_cmd_tasks;
extern const struct nsh_cli_cmd nsh_cmd_show;
extern const struct nsh_cli_cmd nsh_cmd_sandbox;
extern const struct nsh_cli_cmd nsh_cmd_secret;
extern const struct nsh_cli_cmd nsh_cmd_forge;
extern const struct nsh_cli_cmd nsh_cmd_pr;
extern const struct nsh_cli_cmd nsh_cmd_demo;
extern const struct nsh_cli_cmd nsh_cmd_pause;
extern const struct nsh_cli_cmd nsh_cmd_resume;
extern const struct nsh_cli_cmd nsh_cmd_cancel;
extern const struct nsh_cli_cmd nsh_cmd_steer;
extern const struct nsh_cli_cmd nsh_cmd_answer;
extern const struct nsh_cli_cmd nsh_cmd_extend;
extern const struct nsh_cli_cmd nsh_cmd_gc;
extern const struct nsh_cli_cmd nsh_cmd_follow;
extern const struct nsh_cli_cmd nsh_cmd_verify;
extern const struct nsh_cli_cmd nsh_cmd_run;
extern const struct nsh_cli_cmd nsh_cmd_analyze;
extern const struct nsh_cli_cmd nsh_cmd_recipe;
extern const struct nsh_cli_cmd nsh_cmd_serve;
extern const struct nsh_cli_cmd nsh_cmd_agent;
extern const struct nsh_cli_cmd nsh_cmd_github;
extern const struct nsh_cli_cmd nsh_cmd_memory;
extern const struct nsh_cli_cmd nsh_cmd_webhooks;

#endif
