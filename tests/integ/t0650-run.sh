#!/bin/sh
# nightshift run: a task from its text to pull requests on demo-org
# services, in real sandboxes with dependencies installed from the npm
# registry through the egress proxy. A small recipe written here (not the
# shipped lodash one) keeps the expectations exact: rate-limiter only needs
# the version bump (green, PR open), billing uses APIs the small recipe
# does not handle (its tests fail: a draft for human review), and a recipe
# that changes nothing closes its job without a pull request.
#
# The jobs install from the npm registry; when it cannot be reached the
# checks that need it are reported as skipped, never as passed.
. "$(dirname "$0")/lib.sh"

sql() {
	nsh_sql "$1"
}

# A home with demo-org in the forge and the small recipes.
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
	    class: removed
	  - id: contains
	    languages: [javascript]
	    match: "_.contains("
	    rewrite: "_.includes("
	    class: removed-alias
	post:
	  - id: lockfile
	    description: refresh the lock file
	    run: [npm, install, --package-lock-only, --ignore-scripts]
	    when: package-lock.json
	    timeout: 600
	pr:
	  title: Upgrade lodash to 4
	  body: Moves lodash from 3 to 4 (small recipe).
	EOF
	cat >"$NIGHTSHIFT_HOME/recipes/lodash-noop.yml" <<-'EOF'
	id: lodash-noop
	title: A recipe that finds nothing to do
	applies:
	  dependency: lodash
	  range: "<4.0.0"
	rules:
	  - id: never
	    languages: [javascript]
	    match: "_.thisDoesNotExist("
	    rewrite: "_.neither("
	EOF
}

registry=yes
npm ping >/dev/null 2>&1 || registry=no

if [ $registry = yes ]; then
test_expect_success 'a task runs to one pull request per repository, with the evidence' '
	setup &&
	nsh run "upgrade lodash" --recipe lodash-small --repo demo-org/rate-limiter \
		--repo demo-org/billing >out 2>err &&
	cat out &&
	grep -q "Analyzing 2 repos for lodash usage" out &&
	grep -q "2 repos found, 2 with direct imports, 0 transitive" out &&
	grep -q "demo-org/rate-limiter: verify, .*all tests pass" out &&
	grep -q "Task completed" out &&
	grep -Eq "^demo-org/rate-limiter +[0-9]+ +.*pr_open" out &&
	grep -Eq "^demo-org/billing +[0-9]+ +.*needs_human_review" out &&
	task=$(sql "SELECT id FROM tasks") &&
	test "$(sql "SELECT state FROM tasks")" = completed &&
	test "$(sql "SELECT count(*) FROM prs")" -eq 2 &&
	nsh pr show demo-org/rate-limiter#1 --json >pr.json &&
	grep -q "\"state\": \"open\"" pr.json &&
	nsh pr show demo-org/rate-limiter#1 >pr &&
	grep -q "## Dependency change" pr &&
	grep -q "| lodash | bump | ^3.10.1 | ^4.17.21 | package.json |" pr &&
	grep -q "| before the change | 4 | 0 | 0 |" pr &&
	grep -q "| after the change | 4 | 0 | 0 |" pr &&
	grep -q "No test fails that passed before the change" pr &&
	grep -q "### Verification: passed" pr &&
	grep -q "\[x\] \*\*Test integrity\*\*: passed" pr &&
	grep -q "\[x\] \*\*Secrets\*\*: passed" pr &&
	grep -q "\[x\] \*\*AC1: lodash resolves to ^4.17.21\*\*: passed .* resolves to 4\." pr &&
	grep -q "\[x\] \*\*AC2: no test that passed before fails after the change\*\*: passed" pr &&
	grep -q "## Risk" pr &&
	grep -q "2 pull requests in this change set" pr &&
	grep -q "demo-org/billing#1 (draft)" pr &&
	nsh pr show demo-org/billing#1 >draft &&
	grep -q "^state *draft" draft &&
	grep -q "needs-human-review" draft &&
	grep -q "Needs human review.* Every attempt failed verification" draft &&
	grep -q "Newly failing" draft &&
	grep -q "critical (.nightshift/repo.yml critical: true): planned last" draft &&
	test "$(sql "SELECT branch FROM jobs WHERE repo = '"'"'demo-org/rate-limiter'"'"'")" = "nightshift/$task/lodash-small" &&
	git -C "$NIGHTSHIFT_HOME/forge/demo-org/rate-limiter.git" log -1 --format=%B "nightshift/$task/lodash-small" >msg &&
	grep -q "^Nightshift-Task: $task$" msg &&
	grep -q "^Nightshift-Job: j-" msg &&
	git -C "$NIGHTSHIFT_HOME/forge/demo-org/rate-limiter.git" show "nightshift/$task/lodash-small:package.json" | grep -q "\"lodash\": \"^4.17.21\"" &&
	nsh show "$task" --spec >spec &&
	grep -q "WHEN the tests run after the change THE SYSTEM SHALL" spec &&
	grep -q "| 1 | demo-org/rate-limiter |" spec &&
	grep -q "| 2 | demo-org/billing |" spec &&
	test ! -e "$NIGHTSHIFT_HOME/work/$(sql "SELECT id FROM jobs LIMIT 1")" &&
	ls "$NIGHTSHIFT_HOME/artifacts/$task"/*/baseline.log >/dev/null
'

test_expect_success 'a change that weakens a test is sent back, then drafted with the checklist' '
	setup &&
	cat >"$NIGHTSHIFT_HOME/recipes/lodash-weaken.yml" <<-\EOF &&
	id: lodash-weaken
	title: A recipe that skips a test it cannot make pass
	applies:
	  dependency: lodash
	  range: "<4.0.0"
	manifest:
	  - bump: lodash
	    to: ^4.17.21
	rules:
	  - id: skip
	    languages: [javascript]
	    match: "test(:[name], () =>"
	    rewrite: "test.skip(:[name], () =>"
	EOF
	nsh run "weaken" --recipe lodash-weaken --repo demo-org/rate-limiter >out 2>&1 &&
	grep -q "demo-org/rate-limiter: verify, .*checks failed: integrity" out &&
	test "$(sql "SELECT state FROM jobs")" = needs_human_review &&
	nsh pr show demo-org/rate-limiter#1 >draft &&
	grep -q "^state *draft" draft &&
	grep -q "### Verification: failed" draft &&
	grep -q "\[ \] \*\*Test integrity\*\*: failed" draft &&
	grep -q "test/limiter.test.js:[0-9]" draft &&
	sql "SELECT result FROM steps WHERE name = '"'"'verify'"'"'" | grep -q "\"feedback\":\".*limiter.test.js:[0-9]"
'

test_expect_success 'secrets: injected into the job, never in its logs, and a change holding one is no PR' '
	setup &&
	cat >"$NIGHTSHIFT_HOME/recipes/lodash-leak.yml" <<-\EOF &&
	id: lodash-leak
	title: A recipe whose post step writes a secret into the repository
	applies:
	  dependency: lodash
	  range: "<4.0.0"
	manifest:
	  - bump: lodash
	    to: ^4.17.21
	post:
	  - id: leak
	    description: echo the token, and keep it in a file
	    run: [sh, -c, "echo token=$DEMO_TOKEN; echo $DEMO_TOKEN >leaked.txt"]
	EOF
	printf "s3cr3t-Value-4242" | nsh secret set DEMO_TOKEN --scope repo:demo-org/rate-limiter &&
	expect_code 1 nsh run "leak" --recipe lodash-leak --repo demo-org/rate-limiter >out 2>&1 &&
	task=$(sql "SELECT id FROM tasks") &&
	test "$(sql "SELECT state FROM jobs")" = failed &&
	sql "SELECT error FROM jobs" | grep -q "contains the value of secret .DEMO_TOKEN. (leaked.txt:1)" &&
	test "$(sql "SELECT count(*) FROM prs")" -eq 0 &&
	grep -q "token=\[secret:DEMO_TOKEN\]" "$NIGHTSHIFT_HOME/artifacts/$task"/*/post.log &&
	! grep -rq "s3cr3t-Value-4242" "$NIGHTSHIFT_HOME/artifacts" out &&
	! nsh_dump | grep -q "s3cr3t-Value-4242"
'

test_expect_success 'hosts the sandbox was refused are reported in the pull request' '
	setup &&
	cat >"$NIGHTSHIFT_HOME/recipes/lodash-net.yml" <<-\EOF &&
	id: lodash-net
	title: A recipe whose post step tries a host outside the network level
	applies:
	  dependency: lodash
	  range: "<4.0.0"
	manifest:
	  - bump: lodash
	    to: ^4.17.21
	post:
	  - id: phone-home
	    description: try an unlisted host
	    run: [sh, -c, "curl -s -m 5 http://telemetry.example.invalid/ping || true"]
	EOF
	nsh run "net" --recipe lodash-net --repo demo-org/rate-limiter >out 2>&1 &&
	nsh pr show demo-org/rate-limiter#1 >pr &&
	grep -q "## Network" pr &&
	grep -q "telemetry.example.invalid:80" pr
'

test_expect_success 'a change that makes no difference opens no pull request' '
	setup &&
	nsh run "lodash noop" --recipe lodash-noop --repo demo-org/rate-limiter >out 2>&1 &&
	grep -q "no change needed: no pull request" out &&
	test "$(sql "SELECT state FROM jobs")" = closed &&
	test "$(sql "SELECT count(*) FROM prs")" -eq 0
'
else
	test_skip "a task runs to one pull request per repository" "npm registry unreachable"
	test_skip "a change that makes no difference opens no pull request" "npm registry unreachable"
fi

if [ $registry = yes ]; then
# An ignored path survives the reset before the change ("clean -fd" keeps
# it), so a link that the baseline's test run planted there is still in
# the checkout when the recipe runs on the host.
test_expect_success 'links a test run planted in the checkout do not lead the recipe out of it' '
	setup &&
	mkdir -p host/pkgs/a evil &&
	printf "{\"name\": \"a\", \"dependencies\": {\"lodash\": \"^3.10.1\"}}\n" >host/pkgs/a/package.json &&
	cp host/pkgs/a/package.json host/orig.json &&
	cat >evil/package.json <<-EOF &&
	{
	  "name": "evil",
	  "workspaces": ["packages/*"],
	  "dependencies": {"lodash": "^3.10.1"},
	  "scripts": {"test": "ln -sfn $PWD/host/pkgs packages && node -e 0"}
	}
	EOF
	printf "var _ = require(\"lodash\");\nmodule.exports = _.pluck;\n" >evil/index.js &&
	printf "node_modules\npackages\n" >evil/.gitignore &&
	git -C evil init -q && git -C evil add -A &&
	git -C evil -c user.name=t -c user.email=t@t commit -qm base &&
	nsh forge import demo-org evil >/dev/null &&
	nsh run "upgrade lodash" --recipe lodash-small --repo demo-org/evil >out 2>&1 &&
	cat out &&
	test "$(sql "SELECT state FROM jobs")" = pr_open &&
	cmp host/pkgs/a/package.json host/orig.json &&
	nsh pr show demo-org/evil#1 >pr &&
	grep -q "| lodash | bump | ^3.10.1 | ^4.17.21 | package.json |" pr &&
	! grep -q "packages/a" pr
'

test_expect_success 'several fitting recipes: the task asks, and an answer lets it go on' '
	setup
	"$NSH_BIN" run "upgrade lodash" --repo demo-org/rate-limiter >out 2>&1 &
	pid=$!
	i=0
	while [ "$(sql "SELECT state FROM tasks")" != waiting_input ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	task=$(sql "SELECT id FROM tasks") &&
	test "$(sql "SELECT state FROM tasks")" = waiting_input &&
	nsh answer "$task" lodash-noop &&
	{ wait $pid; rc=$?; } &&
	cat out &&
	test $rc -eq 0 &&
	grep -q "Several recipes could do this: .*lodash-noop" out &&
	grep -q "Answered: lodash-noop" out &&
	test "$(sql "SELECT recipe FROM tasks")" = lodash-noop &&
	test "$(sql "SELECT state FROM jobs")" = closed
'
fi

test_expect_success 'no recipe and no LLM: the task fails naming the variables to set' '
	setup &&
	expect_code 1 nsh run "make the logo bigger" --repo demo-org/billing >out 2>&1 &&
	grep -q "NIGHTSHIFT_LLM_API" out &&
	test "$(sql "SELECT state FROM tasks")" = failed &&
	sql "SELECT error FROM tasks" | grep -q "no LLM is configured"
'

test_expect_success 'bad input is refused before a task exists' '
	setup &&
	expect_code 2 nsh run "" --org demo-org 2>err && grep -q "missing the task text" err &&
	expect_code 2 nsh run "x" 2>err && grep -q "name an org" err &&
	expect_code 2 nsh run "x" --org demo-org --network lan 2>err && grep -q "lan" err &&
	expect_code 1 nsh run "x" --org nowhere 2>err && grep -q "nowhere" err &&
	expect_code 1 nsh run "x" --repo demo-org/nope 2>err && grep -q "nope" err &&
	expect_code 1 nsh run "x" --org demo-org --recipe no-such 2>err && grep -q "no-such" err &&
	test "$(sql "SELECT count(*) FROM tasks")" -eq 0
'

test_done
