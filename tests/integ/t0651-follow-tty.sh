#!/bin/sh
# nightshift run / follow on a terminal: a block of one line per job at the
# bottom (repository, a bar of the pipeline steps done, the step running
# now, elapsed time), redrawn as events arrive while the event lines scroll
# above it, and left in its final state. Anywhere else (a pipe, NO_COLOR,
# TERM=dumb) the output is the plain event lines, byte for byte.
#
# The terminal is a real pseudo-terminal (tests/helpers/nsh-test-pty). The
# job installs from the npm registry; when it cannot be reached the checks
# are reported as skipped, never as passed.
. "$(dirname "$0")/lib.sh"

sql() {
	nsh_sql "$1"
}

pty() {
	"$NSH_HELPERS/nsh-test-pty" -c 120 -r 40 -t 600 "$@"
}

# A home with demo-org in the forge and a small recipe (as in t0650).
setup() {
	nsh demo init >/dev/null &&
	mkdir -p "$NIGHTSHIFT_HOME/recipes" &&
	cat >"$NIGHTSHIFT_HOME/recipes/lodash-small.yml" <<-'EOF'
	id: lodash-small
	title: Upgrade lodash from 3 to 4 (small)
	applies:
	  dependency: lodash
	  range: "<4.0.0"
	manifest:
	  - bump: lodash
	    to: ^4.17.21
	rules:
	  - id: pluck
	    languages: [javascript]
	    match: "_.pluck(:[c], :[p])"
	    rewrite: "_.map(:[c], :[p])"
	pr:
	  title: Upgrade lodash to 4
	EOF
}

esc=$(printf '\033')

# The lines a block drew for REPO in FILE (escape sequences removed).
bar_lines() {
	sed "s/$esc\[[0-9;]*[A-Za-z]//g" "$2" | grep -E "^  $1 +\[[█░]+\] +[0-9]+/[0-9]+ "
}

registry=yes
npm ping >/dev/null 2>&1 || registry=no

if [ $registry = yes ]; then
test_expect_success 'run on a terminal: a bar per job, redrawn as it works, left in its final state' '
	setup &&
	env -u NO_COLOR TERM=xterm "$NSH_HELPERS/nsh-test-pty" -c 120 -r 40 -t 600 \
		"$NSH_BIN" run "upgrade lodash" --recipe lodash-small \
		--repo demo-org/rate-limiter --repo demo-org/audit-log >raw &&
	tr -d "\r" <raw >out &&
	test "$(sql "SELECT state FROM tasks")" = completed &&
	rl=demo-org/rate-limiter &&
	al=demo-org/audit-log &&
	# the event lines are all there, as without a terminal
	sed "s/$esc\[[0-9;]*[A-Za-z]//g" out >text &&
	grep -q "^  • $rl: verify, .*all tests pass" text &&
	grep -q "^✅ Task completed" text &&
	# the block: cursor up and clear, then the bars, once per batch of events
	test "$(grep -c "$esc\[[0-9]*A$esc\[J" out)" -ge 5 &&
	bar_lines $rl out >bars &&
	cat bars &&
	# the bar went through the pipeline: steps done out of the total, the step now
	grep -Eq "\] +3/12 install " bars &&
	grep -Eq "\] +8/12 verify " bars &&
	grep -q "\[████████████████████\] 12/12 pr_open " bars &&
	! grep -Eq "\] +1[3-9]/12 " bars &&
	# coloured: green once its pull request is open
	grep -q "\[$esc\[32m████████████████████$esc\[0m\] 12/12 pr_open" out &&
	# the last block drawn (after the last clear) holds both jobs in their final state
	awk -v RS="$esc\\\\[J" "END { print }" out >last &&
	cat last &&
	grep -q "Task completed" last &&
	bar_lines $rl last | grep -q "12/12 pr_open" &&
	bar_lines $al last | grep -Eq "/12 (pr_open|needs_human_review|closed|failed) " &&
	# no line of the block is wider than the terminal (120 columns, one kept free)
	sed "s/$esc\[[0-9;]*[A-Za-z]//g; s/█/#/g; s/░/-/g; s/•/*/g" out | grep "\[[#-]*\]" |
		awk "length(\$0) > 119 { bad = 1 } END { exit bad }"
'

test_expect_success 'follow on a terminal replays the log into the final block; NO_COLOR and TERM=dumb do not' '
	setup &&
	nsh run "upgrade lodash" --recipe lodash-small --repo demo-org/rate-limiter >run.out &&
	task=$(sql "SELECT id FROM tasks") &&
	nsh follow "$task" >plain &&
	! grep -q "$esc" plain &&
	! grep -q "█" plain &&
	grep -q "Task completed" plain &&
	env -u NO_COLOR TERM=xterm "$NSH_HELPERS/nsh-test-pty" -c 100 -r 30 "$NSH_BIN" follow "$task" >raw &&
	tr -d "\r" <raw >tty &&
	bar_lines demo-org/rate-limiter tty | tail -n 1 | grep -q "12/12 pr_open" &&
	# the lines above the block are the plain ones
	sed "s/$esc\[[0-9;]*[A-Za-z]//g" tty | grep -v "█\|░" >events &&
	cmp plain events &&
	env NO_COLOR=1 TERM=xterm "$NSH_HELPERS/nsh-test-pty" "$NSH_BIN" follow "$task" >raw &&
	tr -d "\r" <raw >nocolor &&
	cmp plain nocolor &&
	env -u NO_COLOR TERM=dumb "$NSH_HELPERS/nsh-test-pty" "$NSH_BIN" follow "$task" >raw &&
	tr -d "\r" <raw >dumb &&
	cmp plain dumb &&
	# --json stays JSON on a terminal
	env -u NO_COLOR TERM=xterm "$NSH_HELPERS/nsh-test-pty" "$NSH_BIN" follow "$task" --json >raw &&
	! grep -q "$esc" raw &&
	tr -d "\r" <raw | jq -se "map(select(.kind == \"job.step\" and .data.step == \"pr\")) | length == 1 and .[0].data.index == 12 and .[0].data.steps == 12 and (.[0].data | has(\"next\") | not)" >/dev/null
'
else
	test_skip "run on a terminal: a bar per job" "npm registry unreachable"
	test_skip "follow on a terminal replays the log into the final block" "npm registry unreachable"
fi

test_expect_success 'the terminal helper passes the exit code and the window size' '
	"$NSH_HELPERS/nsh-test-pty" -c 77 -r 21 stty size >raw &&
	tr -d "\r" <raw >out &&
	test "$(cat out)" = "21 77" &&
	expect_code 3 "$NSH_HELPERS/nsh-test-pty" sh -c "exit 3"
'

test_done
