#!/bin/sh
# GitHub end to end, against the fake GitHub (tests/github/fake-github.js,
# which checks every request against GitHub's OpenAPI description): an
# issue labelled "nightshift" in the org's .github repository becomes a
# task for every repository of the org; the task clones over HTTP, opens
# one pull request per repository through the API with its evidence, and
# keeps a status comment on the issue up to date; a review comment on one
# pull request revises it and the sibling that made the same choice, with
# replies on GitHub. The jobs install lodash from the npm registry; when
# it (or the OpenAPI package) cannot be reached the test is skipped.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

TOKEN=ghp_e2e0123456789abcdef0123
SECRET=e2e-webhook-secret
CACHE=$NSH_TOP/build/npm-cache/github
OPENAPI=$CACHE/node_modules/@octokit/openapi/generated/api.github.com.json

skip_all() {
	test_skip 'github end to end' "$1"
	test_done
	exit $?
}
command -v node >/dev/null 2>&1 || skip_all 'node is not installed'
npm ping >/dev/null 2>&1 || skip_all 'the npm registry cannot be reached'
if [ ! -f "$OPENAPI" ]; then
	mkdir -p "$CACHE"
	(cd "$CACHE" && npm install --no-audit --no-fund --no-save --prefix . \
		@octokit/openapi@23.0.2 >/dev/null 2>&1)
fi
[ -f "$OPENAPI" ] || skip_all 'the OpenAPI description cannot be fetched'

FAKE=$T_TRASH/fake
mkdir -p "$FAKE"
node "$NSH_TOP/tests/github/fake-github.js" --dir "$FAKE" --openapi "$OPENAPI" \
	>"$FAKE/port" 2>"$FAKE/err" &
FAKE_PID=$!
trap 'nsh_daemon_stop; kill $FAKE_PID 2>/dev/null; t_cleanup' EXIT
i=0
while [ ! -s "$FAKE/port" ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
API=http://127.0.0.1:$(cat "$FAKE/port")
export NIGHTSHIFT_GITHUB_API="$API" NIGHTSHIFT_GITHUB_TOKEN="$TOKEN"
export NIGHTSHIFT_GITHUB_WRITE_PAUSE=0 NIGHTSHIFT_GITHUB_WEBHOOK_SECRET="$SECRET"
export NIGHTSHIFT_GITHUB_DEBOUNCE=0 NIGHTSHIFT_GITHUB_BOT_LOGIN=nightshift-bot

admin() {
	curl -sf -X POST "$API/_admin/$1" -H 'content-type: application/json' -d "$2"
}
state() {
	curl -sf "$API/_admin/state/$1"
}

# A service using lodash 3: _.contains on an array, its test, no lock file.
service() {
	jq -cn --arg name "$1" '{owner: "acme", name: $name, files: {
		"package.json": ({name: $name, version: "1.0.0", private: true,
			scripts: {test: "node test.js"}, dependencies: {lodash: "^3.10.1"}} | tojson),
		"index.js": "const _ = require(\"lodash\");\nconst KINDS = [\"a\", \"b\"];\nfunction known(k) {\n  return _.contains(KINDS, k);\n}\nmodule.exports = { known };\n",
		"test.js": "const assert = require(\"assert\");\nconst { known } = require(\"./index\");\nassert.strictEqual(known(\"a\"), true);\nassert.strictEqual(known(\"z\"), false);\nconsole.log(\"1..1\\nok 1 known kinds\");\n"}}'
}

admin tokens "{\"token\":\"$TOKEN\"}" >/dev/null
admin owners '{"login":"acme","type":"Organization"}' >/dev/null
admin repos "$(service svc-a)" >/dev/null
admin repos "$(service svc-b)" >/dev/null
admin repos '{"owner":"acme","name":".github","files":{"README.md":"acme\n"}}' >/dev/null
admin collaborators '{"repo":"acme/svc-a","user":"alice","permission":"write"}' >/dev/null

E2E_HOME=$T_TRASH/home
mkdir -p "$E2E_HOME"
NIGHTSHIFT_HOME=$E2E_HOME
export NIGHTSHIFT_HOME
nsh_shared_store "$E2E_HOME" || exit 1
DB=$NSH_SHARED_DB

sign() {
	printf 'sha256=%s' "$(openssl dgst -sha256 -hmac "$SECRET" -r <"$1" | cut -d' ' -f1)"
}

# post EVENT DELIVERY FILE: a signed delivery; the status code to stdout.
post() {
	curl -s -o /dev/null -w '%{http_code}' -H "X-GitHub-Event: $1" -H "X-GitHub-Delivery: $2" \
		-H "X-Hub-Signature-256: $(sign "$3")" -H 'User-Agent: GitHub-Hookshot/test' \
		-H 'Content-Type: application/json' --data-binary @"$3" "$NSH_URL/webhooks/github"
}

# wait_for SQL VALUE: poll the store until the query gives VALUE (10 minutes at most).
wait_for() {
	n=0
	until [ "$(nsh_sql_at "$DB" "$1" 2>/dev/null)" = "$2" ]; do
		n=$((n + 1))
		if [ $n -gt 1200 ]; then
			echo "timed out waiting for [$1] = $2, have $(nsh_sql_at "$DB" "$1")" >&2
			tail -30 "$E2E_HOME/daemon.log" >&2
			return 1
		fi
		sleep 0.5
	done
}

repo_json() {
	jq -n --arg r "$1" '{full_name: ("acme/" + $r), name: $r, owner: {login: "acme"}}'
}

nsh github org-init acme >/dev/null || exit 1
nsh_daemon_start || exit 1

test_expect_success 'a labelled issue becomes a task that opens a PR per repository on GitHub' '
	admin issues "{\"repo\":\"acme/.github\",\"title\":\"Upgrade lodash from 3 to 4\",\"body\":\"Across every service.\",\"labels\":[\"nightshift\"],\"user\":\"alice\"}" >issue.json &&
	n=$(jq .number issue.json) &&
	jq -n --argjson n "$n" --argjson repo "$(repo_json .github)" "{action: \"labeled\",
		label: {name: \"nightshift\"},
		issue: {number: \$n, title: \"Upgrade lodash from 3 to 4\", body: \"Across every service.\",
			user: {login: \"alice\"}, author_association: \"MEMBER\", labels: [{name: \"nightshift\"}]},
		repository: \$repo, sender: {login: \"alice\", type: \"User\"}}" >labeled.json &&
	test "$(post issues d-1 labeled.json)" = 202 &&
	wait_for "SELECT count(*) FROM tasks" 1 &&
	wait_for "SELECT state FROM tasks" completed &&
	test "$(nsh_sql_at "$DB" "SELECT count(*) FROM jobs WHERE state = '"'"'pr_open'"'"'")" = 2 &&
	state acme/svc-a >a.json &&
	jq -e ".issues[] | select(.pr != null) | select(.body | contains(\"## Dependency change\"))" a.json >/dev/null &&
	jq -e ".issues[] | select(.pr != null) | select(.labels | map(.name) | index(\"nightshift\"))" a.json >/dev/null &&
	state acme/svc-b >b.json &&
	jq -e ".issues[] | select(.pr != null)" b.json >/dev/null &&
	state acme/.github >hub.json &&
	jq -e "[.comments[] | select(.body | contains(\"acme/svc-a\") and contains(\"acme/svc-b\"))] | length == 1" hub.json >/dev/null &&
	test "$(curl -sf "$API/_admin/violations" | jq length)" = 0
'

test_expect_success 'a review comment on one PR revises it and its sibling, with replies on GitHub' '
	pr=$(state acme/svc-a | jq "[.issues[] | select(.pr != null)][0].number") &&
	admin review_comments "{\"repo\":\"acme/svc-a\",\"pull\":$pr,\"path\":\"index.js\",\"line\":4,\"body\":\"Please use native includes here.\",\"user\":\"alice\"}" >rc.json &&
	cid=$(state acme/svc-a | jq ".review_comments[-1].id") &&
	jq -n --argjson n "$pr" --argjson id "$cid" --argjson repo "$(repo_json svc-a)" "{action: \"created\",
		comment: {id: \$id, body: \"Please use native includes here.\", path: \"index.js\", line: 4,
			user: {login: \"alice\"}, author_association: \"MEMBER\"},
		pull_request: {number: \$n}, repository: \$repo, sender: {login: \"alice\", type: \"User\"}}" >review.json &&
	test "$(post pull_request_review_comment d-2 review.json)" = 202 &&
	wait_for "SELECT count(*) FROM feedback WHERE state = '"'"'applied'"'"'" 2 &&
	wait_for "SELECT state FROM tasks" completed &&
	git clone -q "$FAKE/git/acme/svc-b.git" b 2>/dev/null || git clone -q "$FAKE/git/acme/svc-b" b &&
	branch=$(nsh_sql_at "$DB" "SELECT branch FROM jobs WHERE repo = '"'"'acme/svc-b'"'"'") &&
	git -C b show "origin/$branch:index.js" | grep -q "KINDS.includes(k)" &&
	state acme/svc-a >a.json &&
	jq -e "[.review_comments[] | select(.in_reply_to_id == $cid) | select(.body | contains(\"Done in\"))] | length == 1" a.json >/dev/null &&
	state acme/svc-b >b.json &&
	jq -e "[.comments[] | select(.body | contains(\"Carried over from review feedback by alice\"))] | length == 1" b.json >/dev/null &&
	test "$(curl -sf "$API/_admin/violations" | jq length)" = 0
'

test_done
