#!/bin/sh
# The lodash-3-to-4 recipe on the demo organisation, as the orchestrator runs
# it: apply the recipe, run its post step (the lock refresh), install with
# npm ci, run node --test. Twelve services go green; pricing only with the
# extend-style=assign alternative (its first retry); feature-flags still
# fails (names stored as data: a human's decision); rate-limiter changes
# nothing but the version; search must keep lodash's includes.
#
# The first checks need no network. The npm checks need the registry
# (through npm's configured registry); when it cannot be reached they are
# reported as skipped, never as passed.
. "$(dirname "$0")/lib.sh"

ORG=$T_TRASH/org
LOGS=$T_TRASH/logs
SERVICES="billing notifications user-profiles feature-flags pricing auth-sessions inventory
search reporting catalog shipping audit-log email-templates rate-limiter geo"
GREEN="billing notifications user-profiles auth-sessions inventory search reporting catalog
shipping audit-log email-templates rate-limiter geo"
mkdir -p "$LOGS"

if ! type test_skip >/dev/null 2>&1; then
	t_skip=0
	# test_skip TITLE REASON: count a check that could not run, not as passed.
	test_skip() {
		t_count=$((t_count + 1))
		t_skip=$((t_skip + 1))
		echo "ok $t_count # skip $1 ($2)"
	}
fi

# json FILE EXPR: print a value of a JSON file (EXPR in terms of j).
json() {
	node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		 const v = ('"$2"'); console.log(v === undefined ? "" : v);' "$1"
}

# reset SERVICE: back to the generated commit (node_modules, ignored, stays).
reset() {
	git -C "$ORG/$1" reset -q --hard && git -C "$ORG/$1" clean -qfd
}

# migrate SERVICE [--choice C=ALT]: what the orchestrator does for one
# attempt. Leaves the failing test names in $LOGS/SERVICE.failing.
migrate() {
	s=$1
	shift
	rm -f "$LOGS/$s.test" "$LOGS/$s.failing"
	reset "$s" &&
	(cd "$ORG/$s" &&
	 nsh recipe apply lodash-3-to-4 . "$@" --run-post >"$LOGS/$s.apply" 2>&1 &&
	 { npm ci --ignore-scripts --prefer-offline --no-audit --no-fund >"$LOGS/$s.ci" 2>&1 ||
	   npm install --ignore-scripts --prefer-offline --no-audit --no-fund \
		>>"$LOGS/$s.ci" 2>&1; } &&
	 test "$(json node_modules/lodash/package.json j.version)" = 4.18.1 &&
	 node --test >"$LOGS/$s.test" 2>&1
	 grep -q "^# pass [1-9]" "$LOGS/$s.test" &&
	 sed -n "s/^not ok [0-9]* - //p" "$LOGS/$s.test" | LC_ALL=C sort >"$LOGS/$s.failing")
}

test_expect_success 'demo init writes the fifteen services' '
	nsh demo init --dir "$ORG" >/dev/null &&
	test "$(ls "$ORG" | wc -l)" -eq 15
'

test_expect_success 'the recipe applies to every service, the transitive ones through vendor/demo-utils' '
	for s in $SERVICES; do
		nsh recipe apply lodash-3-to-4 "$ORG/$s" --dry-run --json >"$LOGS/$s.dry" ||
			{ echo "$s: apply failed"; exit 1; }
		test "$(json "$LOGS/$s.dry" j.applicable)" = true || { echo "$s: not applicable"; exit 1; }
		test -z "$(git -C "$ORG/$s" status --porcelain)" || { echo "$s: dry run wrote"; exit 1; }
	done &&
	for s in user-profiles catalog geo; do
		test "$(json "$LOGS/$s.dry" "j.manifest.map(m => m.file + \" \" + m.to).join()")" = \
			"vendor/demo-utils/package.json ^4.18.1" || { echo "$s: manifest"; exit 1; }
		test "$(json "$LOGS/$s.dry" "j.files.map(f => f.path).join()")" = \
			"vendor/demo-utils/index.js,vendor/demo-utils/package.json" ||
			{ echo "$s: files"; exit 1; }
	done
'

test_expect_success 'rate-limiter: only the version changes' '
	test "$(json "$LOGS/rate-limiter.dry" "j.files.map(f => f.path).join()")" = package.json &&
	test "$(json "$LOGS/rate-limiter.dry" j.summary.changes)" = 0 &&
	test "$(json "$LOGS/rate-limiter.dry" "j.manifest[0].to")" = ^4.18.1
'

test_expect_success 'the ranges keep their style: pinned stays pinned, ~ stays ~' '
	test "$(json "$LOGS/auth-sessions.dry" "j.manifest[0].to")" = 4.18.1 &&
	test "$(json "$LOGS/pricing.dry" "j.manifest[0].to")" = ~4.18.1 &&
	test "$(json "$LOGS/search.dry" "j.manifest[0].to")" = ^4.18.1
'

test_expect_success 'audit-log: the members imported by name are renamed with their calls' '
	reset audit-log &&
	nsh recipe apply lodash-3-to-4 "$ORG/audit-log" >/dev/null &&
	grep -q "^const { map, uniq } = require(.lodash.);" "$ORG/audit-log/src/log.js" &&
	grep -q "return uniq(map(inWindow, .actor.));" "$ORG/audit-log/src/log.js" &&
	! grep -Eq "pluck|unique" "$ORG/audit-log/src/log.js"
'

test_expect_success 'feature-flags: the operator chosen at run time is reported for review' '
	test "$(json "$LOGS/feature-flags.dry" \
		"j.needs_review.map(r => r.file + \":\" + r.rule).join()")" = \
		"src/rules.js:computed-method"
'

test_expect_success 'a second run does nothing: lodash 4 is outside the range' '
	reset inventory &&
	nsh recipe apply lodash-3-to-4 "$ORG/inventory" >/dev/null &&
	git -C "$ORG/inventory" diff >first &&
	nsh recipe apply lodash-3-to-4 "$ORG/inventory" --json >second &&
	test "$(json second j.applicable)" = false &&
	git -C "$ORG/inventory" diff | cmp -s - first &&
	reset inventory
'

# ---- npm: migrate every service and run its tests ----

npm_ok=yes
(cd "$T_TRASH" && mkdir -p probe && cd probe && npm init -y >/dev/null 2>&1 &&
 npm install --no-audit --no-fund --fetch-retries=1 lodash@3.10.1 lodash4@npm:lodash@4.18.1 \
	>npm.log 2>&1) || npm_ok=no
if [ $npm_ok = no ]; then
	echo "# the npm registry cannot be reached ($(npm config get registry)); skipping the npm checks"
	tail -n 5 "$T_TRASH/probe/npm.log" 2>/dev/null | sed 's/^/#   /'
fi

if [ $npm_ok = yes ]; then
	# the registry answered: metadata from npm's cache is good enough now
	npm_config_prefer_offline=true
	export npm_config_prefer_offline
	test_expect_success 'every service migrates and installs lodash 4.18.1 from its refreshed lock' '
		n=0
		for s in $SERVICES; do
			(migrate $s && touch "$LOGS/$s.ok") &
			n=$((n + 1))
			[ $((n % 3)) -ne 0 ] || wait
		done
		wait
		for s in $SERVICES; do
			test -f "$LOGS/$s.ok" || { echo "$s:"; tail -n 5 "$LOGS/$s".*; exit 1; }
		done
	'
	test_expect_success 'thirteen services pass all their tests (rate-limiter and twelve fixed)' '
		for s in $GREEN; do
			test -s "$LOGS/$s.failing" && { echo "$s fails:"; cat "$LOGS/$s.failing"; exit 1; }
		done
		true
	'
	test_expect_success 'the refreshed lock files resolve lodash 4.18.1' '
		for s in $SERVICES; do
			test "$(json "$ORG/$s/package-lock.json" \
				"j.packages ? j.packages[\"node_modules/lodash\"].version : j.dependencies.lodash.version")" = \
				4.18.1 || { echo "$s: lock"; exit 1; }
		done
	'
	test_expect_success 'pricing fails the snapshot test with the default, and passes with extend-style=assign' '
		test "$(cat "$LOGS/pricing.failing")" = \
			"the snapshot for the order service holds only the quote fields and the total" &&
		migrate pricing --choice extend-style=assign &&
		test ! -s "$LOGS/pricing.failing" &&
		grep -q "_\.assign({ totalCents" "$ORG/pricing/src/quote.js"
	'
	test_expect_success 'feature-flags still fails the three stored-name tests (needs a human)' '
		test "$(cat "$LOGS/feature-flags.failing")" = "collection operators keep their stored names (contains, any, all)
rule sets saved by the 2015 admin UI still evaluate
the flags shipped in config/flags.json evaluate as before"
	'
	test_expect_success 'search: the native includes alternative fails where lodash includes passes' '
		migrate search --choice contains-style=native &&
		test "$(cat "$LOGS/search.failing")" = "canonical terms are recognised, aliases are not"
	'
else
	for t in "every service migrates and installs lodash 4.18.1 from its refreshed lock" \
		"thirteen services pass all their tests (rate-limiter and twelve fixed)" \
		"the refreshed lock files resolve lodash 4.18.1" \
		"pricing fails the snapshot test with the default, and passes with extend-style=assign" \
		"feature-flags still fails the three stored-name tests (needs a human)" \
		"search: the native includes alternative fails where lodash includes passes"; do
		test_skip "$t" "npm registry unreachable"
	done
fi

[ "${t_skip:-0}" -eq 0 ] || echo "# $t_skip skipped"
test_done
