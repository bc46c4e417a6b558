#!/bin/sh
# GitHub webhooks on a real "nightshift serve": GitHub's published example
# payloads (@octokit/webhooks-examples, installed with npm into a cache
# under build/ when first needed) re-pointed with jq at a repository of the
# local forge, signed with the configured secret. Valid, invalid and
# missing signatures, redelivery, ping, who may trigger, the bot's own
# events, a labelled issue that becomes a task, a comment that steers it,
# and a review on a nightshift pull request that starts a revision.
#
# When the npm registry cannot be reached, the checks that need the
# example payloads are reported as skipped, never as passed.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

GIT_CONFIG_GLOBAL=/dev/null
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_NAME=Tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=Tester
GIT_COMMITTER_EMAIL=tester@example.com
export GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL \
	GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

EXAMPLES_VERSION=7.6.1
CACHE=$NSH_TOP/build/cache/webhooks-examples-$EXAMPLES_VERSION
EXAMPLES=$CACHE/node_modules/@octokit/webhooks-examples/api.github.com/index.json
SECRET="It's a Secret to Everybody"

# The example payloads, fetched once; "ok" or why not.
fetch_examples() {
	[ -s "$EXAMPLES" ] && return 0
	command -v npm >/dev/null 2>&1 || return 1
	mkdir -p "$CACHE" &&
	(cd "$CACHE" && [ -f package.json ] || echo '{"name":"nsh-cache","private":true}' >package.json) &&
	(cd "$CACHE" && timeout 180 npm install --no-audit --no-fund --silent \
		"@octokit/webhooks-examples@$EXAMPLES_VERSION") </dev/null >"$T_TRASH/npm.log" 2>&1 &&
	[ -s "$EXAMPLES" ]
}
HAVE_EXAMPLES=no
fetch_examples && HAVE_EXAMPLES=yes

# One daemon home for the whole script.
WH_HOME=$T_TRASH/wh-home
mkdir -p "$WH_HOME"
NIGHTSHIFT_HOME=$WH_HOME
export NIGHTSHIFT_HOME
trap 'nsh_daemon_stop; t_cleanup' EXIT
nsh_shared_store "$WH_HOME" || exit 1
DB=$NSH_SHARED_DB

# whn ARGS...: the CLI on the daemon's home (each test has a home of its own).
whn() {
	NIGHTSHIFT_HOME=$WH_HOME NIGHTSHIFT_DB=$NSH_SHARED_URL "$NSH_BIN" "$@"
}

# sign FILE: "sha256=<hex>" of FILE under $SECRET (openssl, else python3).
sign() {
	if command -v openssl >/dev/null 2>&1; then
		printf 'sha256=%s' "$(openssl dgst -sha256 -hmac "$SECRET" -r <"$1" | cut -d' ' -f1)"
	else
		python3 -c 'import hmac, hashlib, sys
print("sha256=" + hmac.new(sys.argv[1].encode(), open(sys.argv[2], "rb").read(),
      hashlib.sha256).hexdigest(), end="")' "$SECRET" "$1"
	fi
}

# post EVENT DELIVERY FILE [SIGNATURE]: a delivery as GitHub sends it; the
# answer goes to ./out, the status to ./code. SIGNATURE "-" sends none.
post() {
	sig=${4:-$(sign "$3")}
	if [ "$sig" = - ]; then
		curl -s -o out -w '%{http_code}' -H "X-GitHub-Event: $1" -H "X-GitHub-Delivery: $2" \
			-H 'User-Agent: GitHub-Hookshot/test' -H 'Content-Type: application/json' \
			--data-binary @"$3" "$NSH_URL/webhooks/github" >code
	else
		curl -s -o out -w '%{http_code}' -H "X-GitHub-Event: $1" -H "X-GitHub-Delivery: $2" \
			-H "X-Hub-Signature-256: $sig" -H 'User-Agent: GitHub-Hookshot/test' \
			-H 'Content-Type: application/json' --data-binary @"$3" \
			"$NSH_URL/webhooks/github" >code
	fi
}

status() {
	if [ "$(cat code)" != "$1" ]; then
		echo "status $(cat code), expected $1: $(cat out)" >&2
		return 1
	fi
}

# api PATH: GET with the token into ./out.
api() {
	curl -s -o out -w '%{http_code}' -H "Authorization: Bearer $NSH_TOKEN" "$NSH_URL$1" >code
}

# example NAME ACTION [N]: the Nth (0) example of event NAME with ACTION,
# re-pointed at acme/api of the local forge.
example() {
	jq -c --arg n "$1" --arg a "$2" --argjson i "${3:-0}" \
		'[.[] | select(.name == $n) | .examples[] | select(.action == $a)][$i]
		 | .repository.full_name = "acme/api" | .repository.name = "api"
		 | .repository.owner.login = "acme"' "$EXAMPLES"
}

# handled DELIVERY: wait until the daemon has handled it; prints its row.
handled() {
	n=0
	while :; do
		whn webhooks --json --limit 1000 >deliveries.json || return 1
		row=$(jq -c --arg d "$1" '.[] | select(.id == $d)' deliveries.json)
		if [ -n "$row" ] && [ "$(echo "$row" | jq -r .status)" != received ]; then
			echo "$row"
			return 0
		fi
		n=$((n + 1))
		if [ "$n" -gt 200 ]; then
			echo "delivery $1 was not handled: $row" >&2
			return 1
		fi
		sleep 0.05
	done
}

deliveries() {
	whn webhooks --json --limit 1000 | jq length
}

# The local forge: acme/api with a pull request #1 from branch nightshift/lodash.
setup_forge() {
	dir=$T_TRASH/forge-src
	mkdir -p "$dir" && cd "$dir" &&
	git init -q -b main api &&
	printf 'const _ = require("lodash");\nmodule.exports = _.pluck;\n' >api/index.js &&
	printf '# api\n' >api/README.md &&
	git -C api add -A && git -C api commit -q -m "first commit" &&
	nsh forge import acme api >/dev/null &&
	git clone -q "$(nsh forge path acme/api)" ws &&
	printf 'const _ = require("lodash");\nmodule.exports = _.map;\n' >ws/index.js &&
	git -C ws commit -q -am "use lodash 4" &&
	nsh forge push acme/api ws nightshift/lodash >/dev/null &&
	nsh pr create acme/api --head nightshift/lodash --title "Upgrade lodash" >/dev/null
}
setup_forge >"$T_TRASH/setup.log" 2>&1 || {
	cat "$T_TRASH/setup.log"
	exit 1
}

# A small payload of our own, for the checks that need no example.
printf '{"action":"labeled","label":{"name":"nightshift"},"issue":{"number":99,"title":"x"},"repository":{"full_name":"acme/api"},"sender":{"login":"ann","type":"User"}}' \
	>"$T_TRASH/small.json"

# ---- without a secret ----

nsh_daemon_start --no-scheduler --rate-limit 0 || exit 1

test_expect_success 'without a secret the endpoint is off: 503, nothing recorded' '
	post issues d-off "$T_TRASH/small.json" && status 503 &&
	jq -r .error.message out | grep -q "webhooks are not configured" &&
	test "$(deliveries)" = 0
'
nsh_daemon_stop

# ---- with a secret ----

cat >"$WH_HOME/config" <<EOF
[github]
webhook_secret = "$SECRET"
bot_login = nightshift-bot
debounce = 1s
webhook_max_body = 64K
EOF
nsh_daemon_start --no-scheduler --rate-limit 0 || exit 1

test_expect_success 'missing, wrong and stale signatures: 401 and nothing recorded' '
	f="$T_TRASH/small.json" &&
	post issues d-none "$f" - && status 401 &&
	jq -r .error.message out | grep -q "missing X-Hub-Signature-256" &&
	post issues d-zero "$f" "sha256=$(printf "%064d" 0)" && status 401 &&
	jq -r .error.message out | grep -q "invalid signature" &&
	post issues d-sha1 "$f" "sha1=0123456789abcdef0123456789abcdef01234567" && status 401 &&
	printf "{}" >empty.json &&
	post issues d-other "$f" "$(sign empty.json)" && status 401 &&
	sig=$(SECRET=another && sign "$f") && post issues d-key "$f" "$sig" && status 401 &&
	test "$(deliveries)" = 0 &&
	test "$(whn tasks --json | jq length)" = 0
'

test_expect_success 'GitHub'"'"'s documented test vector: the signing helper of this script is right' '
	printf "Hello, World!" >hello &&
	test "$(sign hello)" = \
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
'

test_expect_success 'the route needs no token but takes no other method; bodies over the cap are 413' '
	curl -s -o out -w "%{http_code}" "$NSH_URL/webhooks/github" >code && status 405 &&
	head -c 70000 /dev/zero | tr "\0" " " >big.json &&
	post issues d-big big.json && status 413 &&
	test "$(deliveries)" = 0
'

test_expect_success 'malformed deliveries: no event or delivery header, a form body' '
	f="$T_TRASH/small.json" &&
	curl -s -o out -w "%{http_code}" -H "X-GitHub-Delivery: d-x" \
		-H "X-Hub-Signature-256: $(sign "$f")" --data-binary @"$f" \
		"$NSH_URL/webhooks/github" >code && status 400 &&
	curl -s -o out -w "%{http_code}" -H "X-GitHub-Event: issues" \
		-H "X-Hub-Signature-256: $(sign "$f")" --data-binary @"$f" \
		"$NSH_URL/webhooks/github" >code && status 400 &&
	printf "payload=%%7B%%7D" >form &&
	post issues d-form form && status 400 &&
	jq -r .error.message out | grep -q "application/json" &&
	test "$(deliveries)" = 0
'

if [ "$HAVE_EXAMPLES" = no ]; then
	for t in "ping" "a labelled issue becomes one task" "redelivery" "steering" \
		"no write access" "the bot itself" "review feedback" "nightshift webhooks"; do
		test_skip "$t" "@octokit/webhooks-examples could not be installed from the npm registry"
	done
	nsh_daemon_stop
	test_done
	exit $?
fi

test_expect_success 'a ping is answered 200 with its zen' '
	jq -c "[.[] | select(.name == \"ping\") | .examples[0]][0]" "$EXAMPLES" >ping.json &&
	post ping d-ping ping.json && status 200 &&
	test "$(jq -r .zen out)" = "$(jq -r .zen ping.json)" &&
	test "$(jq -r .hook_id out)" = "$(jq -r .hook_id ping.json)"
'

test_expect_success 'a labelled issue becomes one task on the repository, network common' '
	example issues labeled 1 | jq -c ".label.name = \"nightshift\"" >labeled.json &&
	post issues d-label-1 labeled.json && status 202 &&
	test "$(jq -r .status out)" = queued &&
	row=$(handled d-label-1) &&
	test "$(echo "$row" | jq -r .status)" = processed &&
	test "$(echo "$row" | jq -r .subject)" = "acme/api#1" &&
	task=$(echo "$row" | jq -r .task) &&
	whn tasks --json >tasks.json &&
	test "$(jq length tasks.json)" = 1 &&
	test "$(jq -r ".[0].id" tasks.json)" = "$task" &&
	test "$(jq -r ".[0].org" tasks.json)" = acme &&
	test "$(jq -r ".[0].network" tasks.json)" = common &&
	jq -r ".[0].title" tasks.json | head -1 | grep -qx "$(jq -r .issue.title labeled.json)" &&
	api "/api/tasks/$task" && status 200 &&
	test "$(jq -r .task.options.github.repo out)" = acme/api &&
	test "$(jq -r .task.options.github.issue out)" = 1 &&
	test "$(jq -r .task.options.github.delivery out)" = d-label-1 &&
	test "$(jq -r ".task.options.repos[0]" out)" = acme/api
'

test_expect_success 'a redelivery is acknowledged and not acted on twice; another label event neither' '
	example issues labeled 1 | jq -c ".label.name = \"nightshift\"" >labeled.json &&
	post issues d-label-1 labeled.json && status 200 &&
	test "$(jq -r .status out)" = duplicate &&
	post issues d-label-2 labeled.json && status 202 &&
	row=$(handled d-label-2) &&
	test "$(echo "$row" | jq -r .status)" = ignored &&
	echo "$row" | jq -r .reason | grep -q "has task" &&
	test "$(whn tasks --json | jq length)" = 1 &&
	test "$(whn webhooks --json | jq "[.[] | select(.id == \"d-label-1\")] | length")" = 1 &&
	example issues labeled 1 >bug.json &&
	post issues d-label-bug bug.json && status 202 &&
	handled d-label-bug | jq -r .reason | grep -q "label .bug. is not .nightshift."
'

test_expect_success 'a later comment on the issue steers its active task' '
	task=$(whn tasks --json | jq -r ".[0].id") &&
	example issue_comment created 0 | jq -c ".comment.body = \"Only the v2 endpoints, please.\"" \
		>steer.json &&
	post issue_comment d-steer steer.json && status 202 &&
	row=$(handled d-steer) &&
	test "$(echo "$row" | jq -r .status)" = processed &&
	test "$(echo "$row" | jq -r .task)" = "$task" &&
	api "/api/tasks/$task/events" && status 200 &&
	jq -e "[.events[] | select(.kind == \"task.steer\" and .data.text == \"Only the v2 endpoints, please.\")] | length == 1" out >/dev/null &&
	jq -e "[.events[] | select(.kind == \"github.trigger\" and .data.delivery == \"d-steer\")] | length == 1" out >/dev/null
'

test_expect_success 'a /nightshift comment from a user without write access is ignored' '
	task=$(whn tasks --json | jq -r ".[0].id") &&
	example issue_comment created 0 |
		jq -c ".comment.body = \"/nightshift delete the repository\" |
		       .comment.author_association = \"NONE\" | .sender.login = \"stranger\"" >none.json &&
	post issue_comment d-none none.json && status 202 &&
	row=$(handled d-none) &&
	test "$(echo "$row" | jq -r .status)" = ignored &&
	echo "$row" | jq -r .reason | grep -q "stranger.* may not trigger .*NONE" &&
	api "/api/tasks/$task/events" &&
	test "$(jq "[.events[] | select(.kind == \"task.steer\")] | length" out)" = 1 &&
	jq -e "[.events[] | select(.kind == \"github.trigger\" and .data.status == \"ignored\" and .data.delivery == \"d-none\")] | length == 1" out >/dev/null &&
	test "$(whn tasks --json | jq length)" = 1
'

test_expect_success 'a comment by the bot itself is ignored' '
	example issue_comment created 0 |
		jq -c ".comment.body = \"/nightshift status: working\" |
		       .sender.login = \"nightshift-bot[bot]\" | .sender.type = \"Bot\"" >bot.json &&
	post issue_comment d-bot bot.json && status 202 &&
	row=$(handled d-bot) &&
	test "$(echo "$row" | jq -r .status)" = ignored &&
	echo "$row" | jq -r .reason | grep -q "own event" &&
	api "/api/tasks/$(whn tasks --json | jq -r ".[0].id")/events" &&
	test "$(jq "[.events[] | select(.kind == \"task.steer\")] | length" out)" = 1
'

test_expect_success 'a review on a nightshift pull request starts one revision of its job' '
	# The scheduler is off here: a task and the job that opened acme/api#1
	# are written directly, the job waiting for review.
	nsh_sql_at "$DB" "INSERT INTO tasks (id, title, state, org, network, created_at, updated_at)
		VALUES ('"'"'t-00c0de'"'"', '"'"'Upgrade lodash'"'"', '"'"'completed'"'"', '"'"'acme'"'"',
			'"'"'common'"'"', 1, 1);
		INSERT INTO jobs (id, task_id, repo, state, created_at, updated_at)
		VALUES ('"'"'j-00c0de'"'"', '"'"'t-00c0de'"'"', '"'"'acme/api'"'"', '"'"'pr_open'"'"', 1, 1);
		UPDATE prs SET task_id = '"'"'t-00c0de'"'"', job_id = '"'"'j-00c0de'"'"' WHERE number = 1;" &&
	example pull_request_review submitted 0 |
		jq -c ".pull_request.number = 1" >review.json &&
	example pull_request_review_comment created 1 |
		jq -c ".pull_request.number = 1 | .comment.path = \"index.js\" | .comment.line = 2 |
		       .comment.body = \"Keep _.pluck for now\"" >inline.json &&
	post pull_request_review d-review review.json && status 202 &&
	post pull_request_review_comment d-inline inline.json && status 202 &&
	handled d-review >review-row && handled d-inline >inline-row &&
	test "$(jq -r .status inline-row)" = processed &&
	test "$(jq -r .task inline-row)" = t-00c0de &&
	test "$(jq -r .status review-row)" = ignored &&
	jq -r .reason review-row | grep -q "empty comment" &&
	api /api/jobs/j-00c0de && status 200 &&
	test "$(jq -r .job.state out)" = revising &&
	test "$(nsh_sql_at "$DB" "SELECT author || '"'"'|'"'"' || path || '"'"'|'"'"' || line || '"'"'|'"'"' || body
		FROM feedback WHERE job_id = '"'"'j-00c0de'"'"'")" = \
		"$(jq -r .sender.login inline.json)|index.js|2|Keep _.pluck for now" &&
	api /api/tasks/t-00c0de/events &&
	jq -e "[.events[] | select(.kind == \"feedback.received\")] | length == 1" out >/dev/null &&
	jq -e "[.events[] | select(.kind == \"job.state\" and .data.to == \"revising\")] | length == 1" out >/dev/null &&
	api /api/tasks/t-00c0de && test "$(jq -r .task.state out)" = running
'

test_expect_success 'nightshift webhooks lists what became of each delivery' '
	whn webhooks >list &&
	grep -q "^DELIVERY" list &&
	grep "d-none" list | grep -q "issue_comment.created .*ignored" &&
	grep "d-label-1" list | grep -q "processed" &&
	expect_code 2 whn webhooks --limit 0 2>err && grep -q "invalid --limit" err
'

nsh_daemon_stop
test_done
