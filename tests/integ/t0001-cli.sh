#!/bin/sh
# The CLI skeleton: help, version, tasks, show, exit codes, one-line errors,
# the home directory and the configuration file.
. "$(dirname "$0")/lib.sh"
EV=$NSH_HELPERS/nsh-test-events

test_expect_success 'help lists the commands and help COMMAND shows usage' '
	nsh help >out &&
	grep -q "^  tasks " out &&
	grep -q "^  show " out &&
	nsh help show >out &&
	grep -q "^usage: nightshift show TASK" out
'

test_expect_success 'version prints text and JSON' '
	nsh version | grep -Eq "^nightshift [0-9]+\.[0-9]+\.[0-9]+ \(schema [0-9]+\)$" &&
	nsh version --json | grep -q "\"schema\": *[0-9]"
'

test_expect_success 'bad usage exits 2 with one line naming the problem' '
	expect_code 2 nsh frobnicate 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "unknown command .frobnicate." err &&
	expect_code 2 nsh show 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "missing TASK (usage: nightshift show TASK" err &&
	expect_code 2 nsh tasks --state sleeping 2>err &&
	grep -q "unknown task state .sleeping." err &&
	expect_code 2 nsh tasks --bogus 2>err &&
	grep -q "unknown option .--bogus." err &&
	expect_code 2 nsh --home 2>err &&
	grep -q "needs a value" err
'

test_skip_pg "looks at the home's SQLite file"
test_expect_success 'a fresh home is created 0700 with its database' '
	rm -rf "$NIGHTSHIFT_HOME" &&
	nsh tasks >out &&
	grep -qx "no tasks" out &&
	test "$(stat -c %a "$NIGHTSHIFT_HOME")" = 700 &&
	test -f "$NIGHTSHIFT_HOME/nightshift.db" &&
	test "$(stat -c %a "$NIGHTSHIFT_HOME/nightshift.db")" = 600
'

test_skip_pg "looks at the home's SQLite file"
test_expect_success '--home wins over NIGHTSHIFT_HOME' '
	nsh --home "$PWD/other" tasks >/dev/null &&
	test -f other/nightshift.db &&
	! test -f "$NIGHTSHIFT_HOME/nightshift.db"
'

test_expect_success 'tasks lists tasks newest first, filters, and prints JSON' '
	a=$($EV "$NIGHTSHIFT_HOME" create "upgrade lodash from 3 to 4") &&
	b=$($EV "$NIGHTSHIFT_HOME" create "add rate limiting") &&
	$EV "$NIGHTSHIFT_HOME" move "$b" analyzing &&
	nsh tasks >out &&
	test "$(sed -n 2p out | cut -d" " -f1)" = "$b" &&
	grep -q "$a .*queued .*upgrade lodash from 3 to 4" out &&
	nsh tasks --state analyzing >out &&
	grep -q "$b" out && ! grep -q "$a" out &&
	nsh tasks --json >out &&
	grep -q "\"id\": \"$a\"" out &&
	grep -q "\"state\": \"analyzing\"" out &&
	nsh tasks --limit 1 --json >out &&
	test "$(grep -c "\"id\":" out)" -eq 1
'

test_expect_success 'show prints the task, its jobs and its events' '
	a=$($EV "$NIGHTSHIFT_HOME" create "upgrade lodash") &&
	$EV "$NIGHTSHIFT_HOME" job "$a" acme/billing >/dev/null &&
	$EV "$NIGHTSHIFT_HOME" move "$a" analyzing &&
	nsh show "$a" >out &&
	grep -q "^title *upgrade lodash$" out &&
	grep -q "^state *analyzing$" out &&
	grep -q "acme/billing *queued" out &&
	grep -q "task.created" out &&
	grep -q "\"from\":\"queued\",\"to\":\"analyzing\"" out &&
	nsh show "$a" --json >out &&
	grep -q "\"repo\": \"acme/billing\"" out &&
	grep -q "\"kind\": \"task.state\"" out
'

test_expect_success 'show of an unknown task exits 1 naming it' '
	nsh tasks >/dev/null &&
	expect_code 1 nsh show t-zzzzzz 2>err &&
	test "$(cat err)" = "nightshift: error: no task '"'"'t-zzzzzz'"'"'"
'

test_expect_success 'show --spec says when there is no spec' '
	a=$($EV "$NIGHTSHIFT_HOME" create "x") &&
	expect_code 1 nsh show "$a" --spec 2>err &&
	grep -q "has no spec yet" err
'

test_expect_success 'a malformed config file is reported with its line number' '
	printf "[llm]\napi = openai\nthis line is wrong\n" >"$NIGHTSHIFT_HOME/config" &&
	expect_code 1 nsh tasks 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "config. line 3" err
'

test_expect_success 'the log level comes from the config and the environment' '
	printf "[log]\nlevel = loud\n" >"$NIGHTSHIFT_HOME/config" &&
	expect_code 2 nsh tasks 2>err &&
	grep -q "unknown log level .loud." err &&
	NIGHTSHIFT_LOG_LEVEL=debug nsh tasks >/dev/null &&
	printf "[log]\nlevel = info\n" >"$NIGHTSHIFT_HOME/config" &&
	nsh tasks >/dev/null
'

test_expect_success 'a database from a newer nightshift is refused and kept' '
	nsh tasks >/dev/null &&
	nsh_sql "INSERT INTO schema_migrations VALUES (999, '"'"'future'"'"', 0)" &&
	expect_code 1 nsh tasks 2>err &&
	grep -q "schema version 999, newer than this nightshift" err &&
	test "$(nsh_sql "SELECT max(version) FROM schema_migrations")" = 999
'

test_done
