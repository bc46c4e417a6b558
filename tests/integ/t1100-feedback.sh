#!/bin/sh
# Review feedback on nightshift's pull requests: a comment revises its pull
# request, is carried to the sibling pull requests that made the same
# choice, and is answered with what changed; commits pushed by a person
# survive a revision; feedback the recipe brain cannot read goes to a
# person. The jobs install lodash from the npm registry; when it cannot be
# reached the checks are reported as skipped, never as passed.
. "$(dirname "$0")/lib.sh"

sql() {
	nsh_sql "$1"
}

forge() {
	echo "$NIGHTSHIFT_HOME/forge/demo-org/$1.git"
}

# first_run REPO...: the lodash upgrade on the named demo-org services.
first_run() {
	nsh demo init >/dev/null || return 1
	args=""
	for r in "$@"; do
		args="$args --repo demo-org/$r"
	done
	# shellcheck disable=SC2086
	nsh run "Upgrade lodash from 3 to 4" $args >run.out 2>&1 || {
		cat run.out
		return 1
	}
	task=$(sql "SELECT id FROM tasks ORDER BY created_at DESC LIMIT 1")
}

# heads REPO: how many heads pull request #1 of REPO has had.
heads() {
	sql "SELECT count(*) FROM pr_heads h JOIN prs p ON p.id = h.pr_id JOIN repos r ON
		r.id = p.repo_id WHERE r.name = '$1' AND p.number = 1"
}

job_state() {
	sql "SELECT state FROM jobs WHERE repo = 'demo-org/$1' AND task_id = '$task'"
}

registry=yes
npm ping >/dev/null 2>&1 || registry=no

if [ $registry = yes ]; then
test_expect_success 'a comment revises its PR and the siblings that made the same choice' '
	first_run notifications geo billing &&
	branch=nightshift/$task/lodash-3-to-4 &&
	git -C "$(forge notifications)" show "$branch:src/channels.js" | grep -q "lodash.includes(" &&
	nsh pr comment demo-org/notifications#1 \
		"Please use native methods here instead of lodash, Array.prototype.includes is our standard." \
		--author alice >c.out &&
	grep -q "feedback for job j-.*: it revises the pull request now" c.out &&
	test "$(job_state notifications)" = revising &&
	test "$(sql "SELECT state FROM tasks")" = running &&
	nsh run --resume "$task" >resume.out 2>&1 &&
	test "$(sql "SELECT state FROM tasks")" = completed &&
	grep -q "feedback from alice on demo-org/notifications#1 means contains-style: native" resume.out &&
	test "$(job_state notifications)" = pr_open &&
	test "$(job_state geo)" = pr_open &&
	test "$(heads notifications)" -eq 2 &&
	test "$(heads geo)" -eq 2 &&
	test "$(heads billing)" -eq 1 &&
	git -C "$(forge notifications)" show "$branch:src/channels.js" >channels.js &&
	! grep -q "lodash.includes(\|lodash.contains(" channels.js &&
	grep -q "CHANNELS.includes(channel)" channels.js &&
	nsh pr show demo-org/notifications#1 >n1 &&
	grep -q "nightshift replied to #1" n1 &&
	grep -q "Done in [0-9a-f]*. .contains-style. is now .native." n1 &&
	grep -q "The same feedback is applied to .*demo-org/geo#1" n1 &&
	grep -q "## Review feedback applied" n1 &&
	grep -q "alice on demo-org/notifications#1: .Please use native methods" n1 &&
	grep -q "asked for in review feedback" n1 &&
	nsh pr show demo-org/geo#1 >g1 &&
	grep -q "Carried over from review feedback by alice on demo-org/notifications#1 (comment #1): the same choice is made here" g1 &&
	grep -q "carried over: alice on demo-org/geo#1" g1 &&
	nsh pr show demo-org/billing#1 >b1 &&
	! grep -q "Carried over" b1 &&
	test "$(sql "SELECT count(*) FROM feedback WHERE state = '"'"'applied'"'"'")" -eq 2 &&
	test "$(sql "SELECT count(*) FROM feedback WHERE origin_id IS NOT NULL")" -eq 1
'

test_expect_success 'feedback is remembered with provenance, promoted, applied to later tasks, forgotten' '
	first_run notifications geo billing &&
	first=$task &&
	nsh pr comment demo-org/notifications#1 "Please use native includes, not lodash." \
		--author alice >/dev/null &&
	nsh run --resume "$first" >resume.out 2>&1 &&
	nsh memory list --json >mem.json &&
	test "$(jq "[.[] | select(.state == \"active\")] | length" mem.json 2>/dev/null ||
		jq "[.memories[] | select(.state == \"active\")] | length" mem.json)" -eq 1 &&
	id=$(sql "SELECT id FROM memories") &&
	nsh memory show "$id" >show &&
	grep -q "alice" show &&
	grep -q "demo-org/notifications#1" show &&
	grep -q "$first" show &&
	test "$(sql "SELECT scope FROM memories")" = repo &&
	nsh pr show demo-org/notifications#1 | grep -q "Remembered for future tasks as rule $id (repo demo-org/notifications)" &&
	nsh pr comment demo-org/billing#1 "We prefer native includes here too." --author bob >/dev/null &&
	nsh run --resume "$first" >resume2.out 2>&1 &&
	test "$(sql "SELECT scope FROM memories WHERE id = $id")" = org &&
	nsh pr show demo-org/billing#1 | grep -q "a second reviewer agreed" &&
	nsh run "Upgrade lodash from 3 to 4" --repo demo-org/geo >second.out 2>&1 &&
	second=$(sql "SELECT id FROM tasks WHERE id NOT IN ('"'"'$first'"'"') ORDER BY created_at DESC LIMIT 1") &&
	nsh show "$second" --spec >spec2 &&
	grep -q "## Learned rules" spec2 &&
	grep -q "Rule $id: .contains-style: native. is the default choice" spec2 &&
	git -C "$(forge geo)" show "nightshift/$second/lodash-3-to-4:vendor/demo-utils/index.js" >geo2 &&
	grep -q "return collection.includes(value)" geo2 &&
	nsh pr show demo-org/geo#2 >g2 &&
	grep -q "## Learned rules applied" g2 &&
	grep -q "a rule learned from earlier review feedback" g2 &&
	test "$(sql "SELECT uses FROM memories WHERE id = $id")" -ge 1 &&
	nsh memory forget "$id" >/dev/null &&
	nsh run "Upgrade lodash from 3 to 4" --repo demo-org/geo >third.out 2>&1 &&
	third=$(sql "SELECT id FROM tasks ORDER BY created_at DESC LIMIT 1") &&
	test "$third" != "$second" &&
	nsh show "$third" --spec | grep -q "No learned rule applies" &&
	git -C "$(forge geo)" show "nightshift/$third/lodash-3-to-4:vendor/demo-utils/index.js" | grep -q "return _.includes(collection, value)"
'

test_expect_success 'poisoning: no write permission is not learned; weakening checks is refused' '
	NIGHTSHIFT_FORGE_WRITERS="alice bob" &&
	export NIGHTSHIFT_FORGE_WRITERS &&
	first_run notifications &&
	nsh pr comment demo-org/notifications#1 "use native includes" --author mallory >/dev/null &&
	nsh run --resume "$task" >resume.out 2>&1 &&
	test "$(heads notifications)" -eq 2 &&
	test "$(sql "SELECT count(*) FROM memories")" -eq 0 &&
	nsh pr show demo-org/notifications#1 >n1 &&
	grep -q "Not remembered for future tasks: .*no write permission" n1 &&
	nsh pr comment demo-org/notifications#1 "The tests are flaky, just skip the failing tests and disable the lint." \
		--author bob >/dev/null &&
	nsh run --resume "$task" >resume2.out 2>&1 &&
	test "$(heads notifications)" -eq 2 &&
	test "$(job_state notifications)" = pr_open &&
	test "$(sql "SELECT state FROM feedback ORDER BY id DESC LIMIT 1")" = refused &&
	test "$(sql "SELECT count(*) FROM memories")" -eq 0 &&
	grep -q "feedback from bob on demo-org/notifications#1 refused" resume2.out &&
	nsh pr show demo-org/notifications#1 | grep -q "Not applied, and not remembered"
'

test_expect_success 'commits a person pushed on the PR branch survive a revision' '
	first_run notifications &&
	branch=nightshift/$task/lodash-3-to-4 &&
	git clone -q "$(forge notifications)" wt &&
	git -C wt checkout -q "$branch" &&
	echo "Channels are listed in src/channels.js." >>wt/README.md &&
	git -C wt -c user.name=Bob -c user.email=bob@example.com commit -qam "README: where channels live" &&
	git -C wt push -q origin "$branch" &&
	nsh pr comment demo-org/notifications#1 "use native includes" --author alice >/dev/null &&
	nsh run --resume "$task" >resume.out 2>&1 &&
	test "$(job_state notifications)" = pr_open &&
	git -C "$(forge notifications)" log --format=%s "$branch" >log &&
	grep -q "^README: where channels live$" log &&
	git -C "$(forge notifications)" show "$branch:README.md" | grep -q "Channels are listed" &&
	git -C "$(forge notifications)" show "$branch:src/channels.js" | grep -q "CHANNELS.includes(channel)" &&
	grep -q "keeping 1 commit pushed by a person" resume.out
'

test_expect_success 'a person'"'"'s commit that the revision cannot keep is not overwritten' '
	first_run notifications &&
	branch=nightshift/$task/lodash-3-to-4 &&
	git clone -q "$(forge notifications)" wt &&
	git -C wt checkout -q "$branch" &&
	sed -i "s/lodash.includes(CHANNELS, channel)/_.includes(CHANNELS, channel) \/\* mine \*\//" wt/src/channels.js &&
	git -C wt -c user.name=Bob -c user.email=bob@example.com commit -qam "channels: my own take" &&
	git -C wt push -q origin "$branch" &&
	mine=$(git -C wt rev-parse HEAD) &&
	nsh pr comment demo-org/notifications#1 "use native includes" --author alice >/dev/null &&
	nsh run --resume "$task" >resume.out 2>&1 &&
	test "$(job_state notifications)" = needs_human_review &&
	test "$(git -C "$(forge notifications)" rev-parse "$branch")" = "$mine" &&
	nsh pr show demo-org/notifications#1 >n1 &&
	grep -q "Nothing was overwritten" n1
'

test_expect_success 'feedback the recipe brain cannot read goes to a person, with a reply' '
	first_run notifications &&
	nsh pr comment demo-org/notifications#1 "Hmm, I am not sure about this one." --author alice >/dev/null &&
	nsh run --resume "$task" >resume.out 2>&1 &&
	test "$(job_state notifications)" = needs_human_review &&
	test "$(heads notifications)" -eq 1 &&
	test "$(sql "SELECT state FROM feedback")" = unclear &&
	nsh pr show demo-org/notifications#1 >n1 &&
	grep -q "I could not match this to a choice of recipe .lodash-3-to-4. without a language model" n1 &&
	grep -q "contains-style" n1
'

# The reply is posted inside the rules step, before the step is recorded: a
# crash between the two re-runs the step, which must still hand the job to
# a person (it revised with the choices as before and left the PR open).
test_expect_success 'unreadable feedback, killed after the reply: the resumed run still goes to a person' '
	first_run notifications &&
	nsh pr comment demo-org/notifications#1 "Hmm, I am not sure about this one." --author alice >/dev/null &&
	{ NIGHTSHIFT_FAULT=step.rules.done nsh run --resume "$task" >crash.out 2>&1; rc=$?; } &&
	test $rc -eq 137 || { echo "exit $rc, not killed"; cat crash.out; exit 1; }
	test "$(sql "SELECT state FROM feedback")" = unclear &&
	nsh run --resume "$task" >resume.out 2>&1 &&
	test "$(job_state notifications)" = needs_human_review &&
	test "$(heads notifications)" -eq 1 &&
	nsh pr show demo-org/notifications#1 >n1 &&
	test "$(grep -c "I could not match this to a choice of recipe" n1)" -eq 1
'

test_expect_success '/nightshift all carries feedback to every open sibling' '
	first_run notifications billing &&
	nsh pr comment demo-org/notifications#1 "Prefer native includes. /nightshift all" --author alice >/dev/null &&
	nsh run --resume "$task" >resume.out 2>&1 &&
	test "$(heads notifications)" -eq 2 &&
	test "$(heads billing)" -eq 2 &&
	nsh pr show demo-org/billing#1 | grep -q "Carried over from review feedback by alice" &&
	nsh pr merge demo-org/billing#1 --author carol >/dev/null &&
	test "$(job_state billing)" = merged &&
	nsh pr close demo-org/notifications#1 --author carol >/dev/null &&
	test "$(job_state notifications)" = closed &&
	nsh pr comment demo-org/notifications#1 "use native includes" --author alice >out &&
	! grep -q "feedback for job" out
'
else
	for t in "a comment revises its PR and siblings" "feedback is remembered" "poisoning" \
		"commits of a person survive" \
		"a conflicting commit is not overwritten" "unreadable feedback goes to a person" \
		"/nightshift all"; do
		test_skip "$t" "the npm registry cannot be reached"
	done
fi

test_expect_success 'what is not feedback: approvals, own comments, PRs no job opened' '
	nsh demo init >/dev/null &&
	git clone -q "$(forge billing)" wt &&
	git -C wt checkout -q -b topic &&
	echo x >>wt/README.md &&
	git -C wt -c user.name=Bob -c user.email=bob@example.com commit -qam topic &&
	git -C wt push -q origin topic &&
	nsh pr create demo-org/billing --head topic --title "A person" >/dev/null &&
	nsh pr comment demo-org/billing#1 "use native includes" --author alice >out &&
	! grep -q "feedback" out &&
	test "$(sql "SELECT count(*) FROM feedback")" -eq 0
'

test_done
