#!/bin/sh
# nightshift secret set|list|rm: values from stdin only, never printed,
# encrypted at rest, and the master key file's checks.
. "$(dirname "$0")/lib.sh"

CANARY=canary-5f0c1d-not-for-your-eyes

# in_store TEXT: TEXT is in the store in clear: in the home's SQLite files,
# or in a dump of the PostgreSQL database (text as is, bytea as hex).
in_store() {
	if nsh_on_pg; then
		nsh_dump >dump &&
			{ grep -q -- "$1" dump ||
				grep -qi -- "$(printf %s "$1" | od -An -tx1 | tr -d " \n")" dump; }
	else
		grep -q -- "$1" "$NIGHTSHIFT_HOME"/nightshift.db*
	fi
}

test_expect_success 'set reads the value from stdin and list shows it without the value' '
	printf "%s\n" "$CANARY" | nsh secret set GITHUB_TOKEN 2>err &&
	grep -q "secret .GITHUB_TOKEN. set (scope global)" err &&
	printf "%s" "$CANARY-org" | nsh secret set GITHUB_TOKEN --scope org:acme &&
	printf "%s" "npm-token-1234" | nsh secret set NPM_TOKEN --scope repo:acme/api &&
	nsh secret list >out &&
	test "$(sed -n 1p out | tr -s " ")" = "NAME SCOPE CREATED UPDATED" &&
	grep -Eq "^GITHUB_TOKEN +global +20[0-9-]+T[0-9:.]+Z +20[0-9-]+T" out &&
	grep -Eq "^GITHUB_TOKEN +org:acme " out &&
	grep -Eq "^NPM_TOKEN +repo:acme/api " out &&
	test "$(wc -l <out)" -eq 4 &&
	! grep -q "$CANARY" out &&
	! grep -q npm-token out
'

test_expect_success 'list --json has names, scopes and times, never values' '
	printf "%s" "$CANARY" | nsh secret set API_KEY --scope task:t-1a2b3c &&
	nsh secret list --json >out &&
	grep -q "\"name\": \"API_KEY\"" out &&
	grep -q "\"scope\": \"task:t-1a2b3c\"" out &&
	grep -Eq "\"created_at\": \"20[0-9-]+T[0-9:.]+Z\"" out &&
	grep -q "\"updated_at\"" out &&
	! grep -q "$CANARY" out &&
	! grep -qi "value" out
'

test_expect_success 'an empty vault lists nothing' '
	nsh secret list >out &&
	test "$(cat out)" = "no secrets" &&
	nsh secret list --json >out &&
	test "$(tr -d " \n" <out)" = "[]"
'

test_skip_pg "looks into the home's SQLite files"
test_expect_success 'the value never reaches the database files in clear' '
	printf "%s" "$CANARY" | nsh secret set DB_PASSWORD &&
	test -f "$NIGHTSHIFT_HOME/nightshift.db" &&
	grep -q DB_PASSWORD "$NIGHTSHIFT_HOME"/nightshift.db* &&
	! grep -q "$CANARY" "$NIGHTSHIFT_HOME"/nightshift.db*
'

test_expect_success 'the master key is created 0600 with 32 bytes on first use' '
	! test -e "$NIGHTSHIFT_HOME/master.key" &&
	nsh secret list >/dev/null &&
	! test -e "$NIGHTSHIFT_HOME/master.key" &&
	printf "%s" "$CANARY" | nsh secret set FIRST &&
	test "$(stat -c "%a %s %F" "$NIGHTSHIFT_HOME/master.key")" = "600 32 regular file"
'

test_expect_success 'a value on the command line is refused with exit 2 and not echoed' '
	expect_code 2 nsh secret set GITHUB_TOKEN "$CANARY" 2>err </dev/null &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "read from stdin" err &&
	! grep -q "$CANARY" err &&
	expect_code 2 nsh secret set GITHUB_TOKEN "--value=$CANARY" 2>err </dev/null &&
	grep -q "unknown option .--value. (usage" err &&
	! grep -q "$CANARY" err &&
	nsh secret list >out &&
	! grep -q GITHUB_TOKEN out
'

test_expect_success 'bad names, scopes and values are one-line errors' '
	expect_code 2 nsh secret set lower_case 2>err </dev/null &&
	test "$(wc -l <err)" -eq 1 && grep -q "invalid secret name" err &&
	expect_code 2 nsh secret set OK --scope team:x 2>err </dev/null &&
	grep -q "invalid scope .team:x." err &&
	expect_code 2 nsh secret set OK --scope 2>err </dev/null &&
	grep -q "needs a value" err &&
	expect_code 2 nsh secret 2>err && grep -q "missing subcommand" err &&
	expect_code 2 nsh secret frob 2>err && grep -q "unknown subcommand .frob." err &&
	expect_code 1 nsh secret set EMPTY 2>err </dev/null &&
	test "$(wc -l <err)" -eq 1 && grep -q "empty value" err &&
	printf "\n" | expect_code 1 nsh secret set EMPTY 2>err &&
	head -c 65537 /dev/zero | tr "\0" x | expect_code 1 nsh secret set BIG 2>err &&
	test "$(wc -l <err)" -eq 1 && grep -q "larger than 65536 bytes" err &&
	head -c 65536 /dev/zero | tr "\0" x | nsh secret set BIG 2>/dev/null &&
	nsh secret list >out && grep -q "^BIG " out && ! grep -q "^EMPTY " out
'

test_expect_success 'rm removes one scope and says when there is nothing' '
	printf "%s" "$CANARY" | nsh secret set TOKEN &&
	printf "%s" "$CANARY" | nsh secret set TOKEN --scope org:acme &&
	nsh secret rm TOKEN --scope org:acme 2>err &&
	grep -q "removed" err &&
	nsh secret list >out &&
	grep -Eq "^TOKEN +global" out && ! grep -q "org:acme" out &&
	expect_code 1 nsh secret rm TOKEN --scope org:acme 2>err &&
	test "$(cat err)" = "nightshift: error: no secret '"'"'TOKEN'"'"' in scope '"'"'org:acme'"'"'" &&
	expect_code 2 nsh secret rm 2>err && grep -q "missing NAME" err
'

test_expect_success 'a key file readable by others is a one-line error naming it; nothing changes' '
	printf "%s" "$CANARY" | nsh secret set KEPT &&
	key=$NIGHTSHIFT_HOME/master.key &&
	cp "$key" key.before &&
	if nsh_on_pg; then hex="encode(value, '"'"'hex'"'"')"; else hex="hex(value)"; fi &&
	nsh_sql "SELECT $hex FROM secrets" >rows.before &&
	chmod 644 "$key" &&
	printf "%s" "$CANARY-2" | expect_code 1 nsh secret set OTHER 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "master key file .$key. is accessible by group or others (mode 0644)" err &&
	cmp key.before "$key" &&
	nsh_sql "SELECT $hex FROM secrets" >rows.after &&
	cmp rows.before rows.after &&
	chmod 600 "$key" &&
	printf "%s" "$CANARY-2" | nsh secret set OTHER 2>/dev/null
'

test_expect_success 'NIGHTSHIFT_MASTER_KEY_FILE names the key; a bad one is refused' '
	head -c 32 /dev/urandom >"$PWD/ext.key" && chmod 600 "$PWD/ext.key" &&
	printf "%s" "$CANARY" | env NIGHTSHIFT_MASTER_KEY_FILE="$PWD/ext.key" "$NSH_BIN" secret set EXT &&
	! in_store "$CANARY" &&
	! test -e "$NIGHTSHIFT_HOME/master.key" &&
	head -c 31 /dev/urandom >"$PWD/short.key" && chmod 600 "$PWD/short.key" &&
	printf "%s" "$CANARY" | expect_code 1 env NIGHTSHIFT_MASTER_KEY_FILE="$PWD/short.key" \
		"$NSH_BIN" secret set EXT2 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "short.key. has 31 bytes, expected 32" err &&
	printf "%s" "$CANARY" | expect_code 1 env NIGHTSHIFT_MASTER_KEY_FILE="$PWD/none.key" \
		"$NSH_BIN" secret set EXT2 2>err &&
	grep -q "none.key. does not exist" err && ! test -e none.key
'

test_done
