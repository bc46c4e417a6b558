#!/bin/sh
# The HTTP API of "nightshift serve" with curl: the token, every endpoint,
# and the errors (missing or wrong token, malformed JSON, oversized bodies,
# unknown ids, invalid transitions, limits).
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

# One daemon for the whole script, with its own home.
API_HOME=$T_TRASH/api-home
mkdir -p "$API_HOME"
NIGHTSHIFT_HOME=$API_HOME
export NIGHTSHIFT_HOME
trap 'nsh_daemon_stop; t_cleanup' EXIT
nsh_shared_store "$API_HOME" || exit 1
nsh_daemon_start --no-scheduler --rate-limit 0 || exit 1
DB=$NSH_SHARED_DB

# api METHOD PATH [BODY]: the body goes to ./out, the status to ./code.
api() {
	m=$1
	p=$2
	shift 2
	if [ $# -gt 0 ]; then
		curl -s -o out -w '%{http_code}' -X "$m" -H "Authorization: Bearer $NSH_TOKEN" \
			-H 'Content-Type: application/json' --data-binary "$1" "$NSH_URL$p" >code
	else
		curl -s -o out -w '%{http_code}' -X "$m" -H "Authorization: Bearer $NSH_TOKEN" \
			"$NSH_URL$p" >code
	fi
}

# status N: the last call answered N.
status() {
	if [ "$(cat code)" != "$1" ]; then
		echo "status $(cat code), expected $1: $(cat out)" >&2
		return 1
	fi
}

# error CODE TEXT: the last answer is a JSON error with CODE whose message contains TEXT.
error() {
	jq -e --arg c "$1" '.error.code == $c' out >/dev/null &&
	jq -r .error.message out | grep -q -- "$2" || {
		echo "unexpected error body: $(cat out)" >&2
		return 1
	}
}

# new_task TEXT: create a task in org acme, print its id.
new_task() {
	api POST /api/tasks "{\"text\":\"$1\",\"org\":\"acme\"}" && status 201 && jq -r .task.id out
}

make_repo() {
	git init -q -b main "$1" &&
	mkdir -p "$1/src" &&
	printf 'const _ = require("lodash");\nmodule.exports = _.map;\n' >"$1/src/app.js" &&
	printf '# api\n' >"$1/README.md" &&
	git -C "$1" add -A &&
	git -C "$1" commit -q -m "first commit"
}

# A forge with org acme, repository api and a pull request acme/api#1.
setup_forge() {
	dir=$T_TRASH/forge-src
	mkdir -p "$dir" && cd "$dir" &&
	make_repo api &&
	nsh forge import acme api >/dev/null &&
	git clone -q "$(nsh forge path acme/api)" ws &&
	printf 'const _ = require("lodash");\nmodule.exports = _.map;\nexports.v = 4;\n' \
		>ws/src/app.js &&
	git -C ws commit -q -am "use lodash 4" &&
	nsh forge push acme/api ws nightshift/lodash >/dev/null &&
	nsh pr create acme/api --head nightshift/lodash --title "Upgrade lodash" \
		--body "## Summary
Moves to **lodash 4**." >/dev/null &&
	git -C ws checkout -q -b second main &&
	echo "more" >>ws/README.md &&
	git -C ws commit -q -am "readme" &&
	nsh forge push acme/api ws second >/dev/null &&
	nsh pr create acme/api --head second --title "Second" >/dev/null
}
setup_forge >"$T_TRASH/setup.log" 2>&1 || {
	cat "$T_TRASH/setup.log"
	exit 1
}

test_expect_success 'the token file is private; serve.json names the daemon' '
	test "$(stat -c %a "$API_HOME/token")" = 600 &&
	test "$(stat -c %a "$API_HOME/serve.json")" = 600 &&
	test "$(jq -r .pid "$API_HOME/serve.json")" = "$NSH_DAEMON_PID" &&
	test "$(wc -c <"$API_HOME/token")" -ge 33
'

test_expect_success 'health needs no token; everything else does' '
	curl -s -o out -w "%{http_code}" "$NSH_URL/api/health" >code && status 200 &&
	jq -e ".status == \"ok\" and .scheduler == false" out >/dev/null &&
	curl -s -D hdr -o out -w "%{http_code}" "$NSH_URL/api/tasks" >code && status 401 &&
	error unauthorized "missing bearer token" &&
	grep -qi "^WWW-Authenticate: Bearer" hdr &&
	curl -s -o out -w "%{http_code}" -H "Authorization: Bearer nope-nope-nope" \
		"$NSH_URL/api/tasks" >code && status 401 && error unauthorized "invalid token" &&
	curl -s -o out -w "%{http_code}" -H "Authorization: Basic $NSH_TOKEN" \
		"$NSH_URL/api/tasks" >code && status 401 &&
	curl -s -o out -w "%{http_code}" "$NSH_URL/metrics" >code && status 401 &&
	curl -s -o out -w "%{http_code}" -X POST -d "{\"text\":\"x\"}" \
		"$NSH_URL/api/tasks" >code && status 401
'

test_expect_success 'unknown endpoints, wrong methods and bad ids are JSON errors' '
	api GET /api/nothing && status 404 && error not_found "no such endpoint" &&
	curl -s -D hdr -o out -w "%{http_code}" -X DELETE -H "Authorization: Bearer $NSH_TOKEN" \
		"$NSH_URL/api/tasks" >code && status 405 && error method "not allowed" &&
	grep -q "^Allow: GET, POST" hdr &&
	api GET /api/tasks/not-an-id && status 400 && error invalid "invalid task id .not-an-id." &&
	api GET /api/tasks/t-000000 && status 404 && error not_found "no task .t-000000." &&
	api GET /api/jobs/t-123456 && status 400 && error invalid "invalid job id" &&
	api GET /api/prs/acme/api/0 && status 400 && error invalid "invalid number" &&
	api GET "/api/prs/acme/..x/1" && status 400 &&
	api GET /api/tasks?limit=abc && status 400 && error invalid "invalid limit" &&
	api GET /api/tasks?state=sleeping && status 400 && error invalid "sleeping" &&
	api GET /api/health "{}" && status 400 && error invalid "takes no request body"
'

test_expect_success 'creating a task: malformed and invalid bodies are refused' '
	api POST /api/tasks "{\"text\": " && status 400 && error invalid "not valid JSON" &&
	api POST /api/tasks "[1,2]" && status 400 && error invalid "must be a JSON object" &&
	api POST /api/tasks "{\"text\":\"x\",\"colour\":1}" && status 400 &&
	error invalid "unknown field .colour." &&
	api POST /api/tasks "{\"org\":\"acme\"}" && status 400 && error invalid "field .text. is required" &&
	api POST /api/tasks "{\"text\":7}" && status 400 && error invalid "must be a string" &&
	api POST /api/tasks "{\"text\":\"x\",\"org\":\"nowhere\"}" && status 400 &&
	error invalid "no org .nowhere." &&
	api POST /api/tasks "{\"text\":\"x\",\"org\":\"acme\",\"network\":\"wide\"}" && status 400 &&
	api POST /api/tasks "{\"text\":\"x\",\"repos\":[\"acme/nope\"]}" && status 400 &&
	error invalid "repos\\[0\\]" &&
	api POST /api/tasks "{\"text\":\"x\",\"org\":\"acme\",\"deadline\":\"soon\"}" && status 400
'

test_expect_success 'oversized bodies and too many headers are refused' '
	head -c 1100000 /dev/zero | tr "\\0" a >big &&
	curl -s -o out -w "%{http_code}" -X POST -H "Authorization: Bearer $NSH_TOKEN" \
		--data-binary @big "$NSH_URL/api/tasks" >code && status 413 &&
	error too_big "larger than 1048576 bytes" &&
	set -- &&
	for i in $(seq 1 70); do set -- "$@" -H "X-Filler-$i: $i"; done &&
	curl -s -o out -w "%{http_code}" "$@" -H "Authorization: Bearer $NSH_TOKEN" \
		"$NSH_URL/api/tasks" >code && status 431
'

test_expect_success 'create, get and list tasks with filters and pages' '
	api POST /api/tasks "{\"text\":\"  upgrade lodash  \",\"repos\":[\"acme/api\"],\"recipe\":\"lodash-3-to-4\",\"network\":\"common\",\"deadline\":\"2h\"}" &&
	status 201 &&
	id=$(jq -r .task.id out) &&
	jq -e ".task.title == \"upgrade lodash\" and .task.org == \"acme\" and .task.state == \"queued\" and .task.network == \"common\" and .task.recipe == \"lodash-3-to-4\" and .task.options.repos == [\"acme/api\"] and .task.deadline != null" out >/dev/null &&
	api GET /api/tasks/$id && status 200 &&
	jq -e ".task.id == \"$id\" and .jobs == [] and .spec_version == null and .question == null" out >/dev/null &&
	a=$(new_task "first of three") && b=$(new_task "second of three") &&
	api GET "/api/tasks?limit=2" && status 200 &&
	jq -e ".tasks | length == 2" out >/dev/null &&
	test "$(jq -r ".tasks[0].id" out)" = "$b" &&
	test "$(jq -r .next_offset out)" = 2 &&
	api GET "/api/tasks?q=OF%20THREE" && status 200 &&
	jq -e "[.tasks[].id] | length == 2 and index(\"$a\") != null and index(\"$b\") != null" out >/dev/null &&
	api GET "/api/tasks?state=completed" && status 200 && jq -e ".tasks == []" out >/dev/null &&
	api GET "/api/tasks?org=acme&limit=500" && status 200 &&
	jq -e "[.tasks[] | select(.id == \"$id\")] | length == 1" out >/dev/null
'

test_expect_success 'control requests: transitions, and invalid ones as 409' '
	id=$(new_task "control me") &&
	api POST /api/tasks/$id/pause "{}" && status 200 &&
	jq -e ".control.done and .task.state == \"paused\"" out >/dev/null &&
	api POST /api/tasks/$id/pause && status 409 && error conflict "" &&
	api POST /api/tasks/$id/resume && status 200 && jq -e ".task.state == \"queued\"" out >/dev/null &&
	api POST /api/tasks/$id/resume && status 409 && error conflict "not paused" &&
	jq -e ".control.done == false and .task.state == \"queued\"" out >/dev/null &&
	api POST /api/tasks/$id/steer "{}" && status 400 && error invalid "steer needs field .text." &&
	api POST /api/tasks/$id/steer "{\"text\":\"only touch src/\"}" && status 200 &&
	api POST /api/tasks/$id/answer "{\"text\":\"yes\"}" && status 409 &&
	api POST /api/tasks/$id/extend "{\"duration\":\"30m\"}" && status 200 &&
	api GET /api/tasks/$id && jq -e ".task.deadline != null" out >/dev/null &&
	api POST /api/tasks/$id/extend "{\"duration\":\"later\"}" && status 400 &&
	api POST /api/tasks/$id/explode && status 400 && error invalid "unknown control" &&
	api POST /api/tasks/t-000000/pause && status 404 &&
	api POST /api/tasks/$id/cancel "{\"text\":\"not needed\"}" && status 200 &&
	jq -e ".task.state == \"cancelled\"" out >/dev/null &&
	api POST /api/tasks/$id/resume && status 409 &&
	api GET /api/tasks/$id/events && status 200 &&
	jq -r ".events[].kind" out >kinds &&
	grep -qx task.created kinds && grep -qx task.steer kinds && grep -qx task.extended kinds &&
	test "$(grep -cx task.state kinds)" = 3 &&
	jq -e "[.events[] | select(.kind == \"task.steer\")][0].data.text == \"only touch src/\"" out >/dev/null
'

test_expect_success 'events: paging with after, the global log, bad cursors' '
	id=$(new_task "event paging") &&
	api POST /api/tasks/$id/pause && api POST /api/tasks/$id/resume &&
	api GET "/api/tasks/$id/events?limit=1" && status 200 &&
	first=$(jq -r .last_id out) && jq -e ".events | length == 1" out >/dev/null &&
	api GET "/api/tasks/$id/events?after=$first" && status 200 &&
	jq -e "(.events | length == 2) and all(.events[]; .id > $first)" out >/dev/null &&
	api GET "/api/events?task=$id" && status 200 && jq -e ".events | length == 3" out >/dev/null &&
	api GET "/api/events?after=$first&limit=1000" && status 200 &&
	jq -e "all(.events[]; .id > $first)" out >/dev/null &&
	api GET "/api/events?after=-1" && status 400 &&
	api GET "/api/tasks/$id/events?limit=5000" && status 400
'

test_expect_success 'event streams: per task and global, resumable with Last-Event-ID' '
	id=$(new_task "stream me") &&
	api POST /api/tasks/$id/pause &&
	curl -s -N --max-time 2 -H "Authorization: Bearer $NSH_TOKEN" \
		"$NSH_URL/api/tasks/$id/stream" >s1 ; \
	grep -q "^event: task.created" s1 && grep -q "^event: task.state" s1 &&
	grep -q "^retry: " s1 &&
	created=$(sed -n "s/^id: //p" s1 | head -n 1) &&
	curl -s -N --max-time 2 -H "Authorization: Bearer $NSH_TOKEN" -H "Last-Event-ID: $created" \
		"$NSH_URL/api/tasks/$id/stream" >s2 ; \
	! grep -q "^event: task.created" s2 && grep -q "^event: task.state" s2 &&
	{ curl -s -N --max-time 3 -H "Authorization: Bearer $NSH_TOKEN" \
		"$NSH_URL/api/events/stream" >s3 & } &&
	sleep 1 && api POST /api/tasks/$id/resume && wait ; \
	grep -q "^event: task.state" s3 && ! grep -q "^event: task.created" s3 &&
	grep "^data: " s3 | sed "s/^data: //" | jq -e "select(.kind == \"task.state\") | .data.to == \"queued\"" >/dev/null &&
	curl -s -o out -w "%{http_code}" -H "Authorization: Bearer $NSH_TOKEN" \
		"$NSH_URL/api/tasks/t-000000/stream" >code && status 404 &&
	curl -s -o out -w "%{http_code}" -H "Authorization: Bearer $NSH_TOKEN" -H "Last-Event-ID: x" \
		"$NSH_URL/api/events/stream" >code && status 400
'

test_expect_success 'spec: none yet is 404, then the newest version, parsed' '
	id=$(new_task "with a spec") &&
	api GET /api/tasks/$id/spec && status 404 && error not_found "no spec yet" &&
	nsh_sql_at "$DB" "INSERT INTO specs (task_id, version, body, created_at) VALUES ('"'"'$id'"'"', 1, '"'"'# Spec'"'"', 1); INSERT INTO specs (task_id, version, body, created_at) VALUES ('"'"'$id'"'"', 2, '"'"'{\"requirements\":[\"use lodash 4\"],\"acceptance_criteria\":[\"tests pass\"],\"plan\":[\"api\"]}'"'"', 2);" &&
	api GET /api/tasks/$id/spec && status 200 &&
	jq -e ".version == 2 and .spec.requirements == [\"use lodash 4\"] and .spec.plan == [\"api\"]" out >/dev/null &&
	api GET "/api/tasks/$id/spec?version=1" && status 200 &&
	jq -e ".version == 1 and .body == \"# Spec\" and .spec == null" out >/dev/null &&
	api GET "/api/tasks/$id/spec?version=9" && status 404 &&
	api GET /api/tasks/$id && jq -e ".spec_version == 2" out >/dev/null
'

test_expect_success 'jobs: list with filters, one job with its steps, risk and PR' '
	id=$(new_task "with jobs") &&
	nsh_sql_at "$DB" "INSERT INTO jobs (id, task_id, repo, state, step, position, attempt, created_at, updated_at) VALUES ('"'"'j-aaaaaa'"'"', '"'"'$id'"'"', '"'"'acme/api'"'"', '"'"'coding'"'"', '"'"'clone'"'"', 0, 0, 1000, 1000), ('"'"'j-bbbbbb'"'"', '"'"'$id'"'"', '"'"'acme/web'"'"', '"'"'failed'"'"', NULL, 1, 0, 1000, 1000); INSERT INTO steps (task_id, job_id, attempt, name, result, created_at) VALUES ('"'"'$id'"'"', '"'"'j-aaaaaa'"'"', 0, '"'"'clone'"'"', '"'"'{\"risk\":3}'"'"', 1500);" &&
	api GET "/api/jobs?task=$id" && status 200 && jq -e ".jobs | length == 2" out >/dev/null &&
	api GET "/api/jobs?task=$id&state=failed" && status 200 &&
	jq -e "[.jobs[].id] == [\"j-bbbbbb\"]" out >/dev/null &&
	api GET "/api/jobs?repo=acme/api&task=$id" && jq -e "[.jobs[].id] == [\"j-aaaaaa\"]" out >/dev/null &&
	api GET "/api/jobs?state=dreaming" && status 400 &&
	api GET /api/jobs/j-aaaaaa && status 200 &&
	jq -e ".job.risk == 3 and .job.steps[0].name == \"clone\" and .job.steps[0].duration_ms == 500 and .job.pr == null" out >/dev/null &&
	api GET /api/jobs/j-cccccc && status 404 &&
	api GET /api/tasks/$id && status 200 &&
	jq -e "(.jobs | length == 2) and .jobs[1].progress == 1" out >/dev/null &&
	api GET "/api/tasks?q=with%20jobs" &&
	jq -e ".tasks[0].progress == {\"jobs\": 2, \"settled\": 1, \"failed\": 1}" out >/dev/null
'

test_expect_success 'orgs and repositories' '
	api GET /api/orgs && status 200 &&
	jq -e ".orgs[] | select(.name == \"acme\") | .repos == [\"api\"]" out >/dev/null &&
	api GET /api/orgs/acme && status 200 &&
	jq -e ".org.name == \"acme\" and .repos[0].name == \"api\" and .repos[0].default_branch == \"main\"" out >/dev/null &&
	api GET /api/repos/acme/api && status 200 && jq -e ".repo.name == \"api\"" out >/dev/null &&
	api GET /api/orgs/nowhere && status 404 &&
	api GET /api/repos/acme/nothing && status 404 && error not_found "acme/nothing"
'

test_expect_success 'pull requests: list, get, diff, comments' '
	api GET /api/prs && status 200 && jq -e ".prs | length == 2" out >/dev/null &&
	jq -e "all(.prs[]; has(\"body\") | not)" out >/dev/null &&
	api GET "/api/prs?state=open&repo=api" && jq -e ".total == 2" out >/dev/null &&
	api GET "/api/prs?state=weird" && status 400 &&
	api GET /api/prs/acme/api/1 && status 200 &&
	jq -e ".pr.title == \"Upgrade lodash\" and (.pr.body | test(\"lodash 4\")) and (.pr.heads | length == 1)" out >/dev/null &&
	api GET /api/prs/acme/api/1/diff && status 200 && jq -r .diff out | grep -q "^+exports.v = 4;" &&
	api GET "/api/prs/acme/api/1/diff?head=XYZ" && status 400 &&
	api GET /api/prs/acme/api/9 && status 404 &&
	api POST /api/prs/acme/api/1/comments "{\"body\":\"<script>alert(1)</script> looks fine\",\"author\":\"rev\"}" &&
	status 201 && jq -e ".comment.author == \"rev\" and .comment.kind == \"comment\"" out >/dev/null &&
	api POST /api/prs/acme/api/1/comments "{\"body\":\"why?\",\"path\":\"src/app.js\",\"line\":3}" &&
	status 201 && jq -e ".comment.path == \"src/app.js\" and .comment.line == 3" out >/dev/null &&
	api POST /api/prs/acme/api/1/comments "{\"body\":\"x\",\"path\":\"src/app.js\"}" && status 400 &&
	error invalid "both .path. and .line." &&
	api POST /api/prs/acme/api/1/comments "{\"body\":\"x\",\"path\":\"src/app.js\",\"line\":99}" && status 400 &&
	api POST /api/prs/acme/api/1/comments "{}" && status 400 &&
	api GET /api/prs/acme/api/1/comments && status 200 &&
	jq -e ".comments | length == 2 and .[0].body == \"<script>alert(1)</script> looks fine\"" out >/dev/null
'

test_expect_success 'reviews, merge and close' '
	api POST /api/prs/acme/api/1/review "{\"verdict\":\"request_changes\"}" && status 400 &&
	error invalid "needs field .body." &&
	api POST /api/prs/acme/api/1/review "{\"verdict\":\"maybe\",\"body\":\"x\"}" && status 400 &&
	api POST /api/prs/acme/api/1/review "{\"verdict\":\"request_changes\",\"body\":\"keep v3 API\",\"comments\":[{\"path\":\"src/app.js\",\"line\":2,\"body\":\"use _.map here\"}]}" &&
	status 201 && jq -e ".verdict == \"request_changes\" and (.comments | length == 1) and .review > 0" out >/dev/null &&
	api POST /api/prs/acme/api/1/review "{\"verdict\":\"comment\",\"body\":\"note\",\"comments\":[{\"path\":\"nope.js\",\"line\":1,\"body\":\"x\"}]}" &&
	status 400 &&
	api GET /api/prs/acme/api/1/comments &&
	jq -e "[.comments[].kind] == [\"comment\", \"comment\", \"comment\", \"request_changes\"]" out >/dev/null &&
	api POST /api/prs/acme/api/1/review "{\"verdict\":\"approve\"}" && status 201 &&
	api POST /api/prs/acme/api/1/merge && status 200 && jq -e ".pr.state == \"merged\"" out >/dev/null &&
	api POST /api/prs/acme/api/1/merge && status 409 &&
	api POST /api/prs/acme/api/1/review "{\"verdict\":\"approve\"}" && status 409 &&
	api POST /api/prs/acme/api/2/close "{\"author\":\"rev\"}" && status 200 &&
	jq -e ".pr.state == \"closed\" and .pr.closed_by == \"rev\"" out >/dev/null &&
	api POST /api/prs/acme/api/1/close && status 409
'

test_expect_success 'memories: list, get, forget' '
	nsh_sql_at "$DB" "INSERT INTO memories (rule, scope, scope_value, state, source, created_at) VALUES ('"'"'Keep the v3 API in notifications'"'"', '"'"'repo'"'"', '"'"'acme/api'"'"', '"'"'active'"'"', '"'"'{\"pr\":\"acme/api#1\",\"comment\":3,\"author\":\"rev\"}'"'"', 1000);" &&
	mid=$(nsh_sql_at "$DB" "SELECT max(id) FROM memories") &&
	api GET /api/memories && status 200 &&
	jq -e ".memories[0].rule == \"Keep the v3 API in notifications\" and .memories[0].source.pr == \"acme/api#1\"" out >/dev/null &&
	api GET "/api/memories?state=active&scope=repo" && jq -e ".memories | length == 1" out >/dev/null &&
	api GET "/api/memories?state=sleepy" && status 400 &&
	api GET /api/memories/$mid && status 200 && jq -e ".memory.state == \"active\"" out >/dev/null &&
	api POST /api/memories/$mid/forget && status 200 && jq -e ".memory.state == \"forgotten\"" out >/dev/null &&
	api DELETE /api/memories/$mid && status 200 &&
	api GET "/api/memories?state=active" && jq -e ".memories == []" out >/dev/null &&
	api GET /api/memories/999999 && status 404 && api DELETE /api/memories/999999 && status 404
'

test_expect_success 'memories: learned rules with provenance, promote, filters' '
	NIGHTSHIFT_DB=$NSH_SHARED_URL "$NSH_HELPERS/nsh-test-memory" "$API_HOME" learn kind=preference recipe=lodash-3-to-4 \
		choice=contains-style alt=native "text=Use native methods" repo=acme/api \
		reviewer=alice pr=acme/api#1 comment=7 task=t-aaaaaa >mid &&
	mid=$(cat mid) &&
	api GET "/api/memories?org=acme&kind=preference" && status 200 &&
	jq -e ".memories | length == 1" out >/dev/null &&
	jq -e ".memories[0] | .kind == \"preference\" and .alt == \"native\" and .scope == \"repo\"
		and .reviewers == [\"alice\"] and .sources[0].comment == 7 and .why != null" out >/dev/null &&
	api GET "/api/memories?repo=acme/web" && jq -e ".memories | length == 0" out >/dev/null &&
	api POST /api/memories/$mid/promote && status 200 &&
	jq -e ".memory.scope == \"org\" and .memory.promoted_by == \"api\"" out >/dev/null &&
	api GET "/api/memories?repo=acme/web" && jq -e ".memories | length == 1" out >/dev/null &&
	api GET "/api/memories?kind=rule" && status 400 &&
	api GET "/api/memories?repo=acme" && status 400 &&
	api POST /api/memories/$mid/forget && status 200 &&
	api POST /api/memories/$mid/promote && status 409 && error conflict "is forgotten" &&
	api POST /api/memories/999999/promote && status 404
'

test_expect_success 'secrets: names and scopes, never values' '
	printf "s3cr3t-value-42" | NIGHTSHIFT_HOME=$API_HOME NIGHTSHIFT_DB=$NSH_SHARED_URL nsh secret set NPM_TOKEN >/dev/null &&
	api GET /api/secrets && status 200 &&
	jq -e ".secrets[0].name == \"NPM_TOKEN\" and .secrets[0].scope == \"global\"" out >/dev/null &&
	! grep -q "s3cr3t-value-42" out && ! jq -e ".secrets[0] | has(\"value\")" out >/dev/null
'

test_expect_success 'metrics in Prometheus text format' '
	api GET /metrics && status 200 &&
	grep -q "^nightshift_tasks{state=\"queued\"} [1-9]" out &&
	grep -q "^nightshift_queue_length 0$" out &&
	grep -q "^nightshift_sandboxes_running [0-9]" out &&
	grep -q "^nightshift_model_tokens_total{kind=\"prompt\"} 0$" out &&
	grep -q "^nightshift_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/tasks\",le=\"+Inf\"} [1-9]" out &&
	grep -q "^nightshift_http_requests_total{method=\"POST\",route=\"/api/tasks\",code=\"4xx\"} [1-9]" out &&
	grep -q "^# TYPE nightshift_http_request_duration_seconds histogram" out
'

test_expect_success 'the web UI is served without a token, with a strict CSP' '
	curl -s -D hdr -o out -w "%{http_code}" "$NSH_URL/" >code && status 200 &&
	grep -qi "^Content-Type: text/html" hdr &&
	grep -qi "^Content-Security-Policy: default-src .none.; script-src .self." hdr &&
	grep -q "<script src=\"app.js\"" out &&
	curl -s -o out -w "%{http_code}" "$NSH_URL/app.js" >code && status 200 &&
	grep -q "textContent" out && ! grep -q "innerHTML =" out &&
	etag=$(grep -i "^ETag:" hdr | tr -d "\\r" | sed "s/^[^:]*: //") &&
	curl -s -o out -w "%{http_code}" -H "If-None-Match: $etag" "$NSH_URL/" >code && status 304 &&
	curl -s -o out -w "%{http_code}" "$NSH_URL/missing.js" >code && status 404 &&
	curl -s -o out -w "%{http_code}" "$NSH_URL/Index.HTML" >code && status 400
'

test_expect_success 'serve refuses a non-loopback address and a second daemon on the same port' '
	expect_code 1 nsh serve --listen 0.0.0.0:0 2>err &&
	grep -q "is not loopback; pass --allow-remote" err &&
	expect_code 1 nsh serve --listen nowhere 2>err && grep -q "invalid listen address" err &&
	port=${NSH_URL##*:} &&
	expect_code 1 nsh serve --listen 127.0.0.1:$port --no-scheduler 2>err &&
	grep -q "cannot listen on" err
'

test_expect_success 'requests over the rate limit get 429' '
	NIGHTSHIFT_HOME=$PWD/home && export NIGHTSHIFT_HOME &&
	nsh_daemon_start --no-scheduler --rate-limit 5 &&
	codes="" &&
	for i in $(seq 1 15); do
		codes="$codes $(curl -s -o /dev/null -w "%{http_code}" "$NSH_URL/api/health")"
	done &&
	nsh_daemon_stop &&
	echo "$codes" | grep -q " 200" && echo "$codes" | grep -q " 429" &&
	test ! -e "$NIGHTSHIFT_HOME/serve.json"
'

# Stop the shared daemon here (only this shell can wait for it).
nsh_daemon_stop
STOP_RC=$?
export STOP_RC

test_expect_success 'SIGTERM stops the daemon cleanly: exit 0, serve.json gone, no sanitizer report' '
	test "$STOP_RC" = 0 &&
	test ! -e "$API_HOME/serve.json" &&
	test -e "$API_HOME/token" &&
	! grep -q "Sanitizer\|runtime error" "$API_HOME/daemon.log"
'

test_done
