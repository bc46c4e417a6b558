#!/bin/sh
# The GitHub forge against the fake GitHub (tests/github/fake-github.js),
# which checks every request against GitHub's OpenAPI description from the
# npm package @octokit/openapi: repositories, files, clone and push over
# HTTP with the token kept out of URLs and argument lists, pull requests,
# comments, reviews, permissions, rate limits, ETags, the App token flow,
# the status comment and polling across a restart.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

CANARY=ghp_canary0123456789abcdef
CACHE=$NSH_TOP/build/npm-cache/github
OPENAPI=$CACHE/node_modules/@octokit/openapi/generated/api.github.com.json

if ! command -v node >/dev/null 2>&1; then
	test_skip 'github forge against the fake server' 'node is not installed'
	test_done
	exit $?
fi
if [ ! -f "$OPENAPI" ]; then
	mkdir -p "$CACHE"
	(cd "$CACHE" && npm install --no-audit --no-fund --no-save --prefix . \
		@octokit/openapi@23.0.2 >/dev/null 2>&1)
fi
if [ ! -f "$OPENAPI" ]; then
	test_skip 'github forge against the fake server' 'the npm registry cannot be reached'
	test_done
	exit $?
fi

FAKE=$T_TRASH/fake
mkdir -p "$FAKE"
node "$NSH_TOP/tests/github/fake-github.js" --dir "$FAKE" --openapi "$OPENAPI" \
	>"$FAKE/port" 2>"$FAKE/err" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null; t_cleanup' EXIT
i=0
while [ ! -s "$FAKE/port" ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
PORT=$(cat "$FAKE/port")
API=http://127.0.0.1:$PORT
export NIGHTSHIFT_GITHUB_API="$API" NIGHTSHIFT_GITHUB_TOKEN="$CANARY"
export NIGHTSHIFT_GITHUB_WRITE_PAUSE=0 NIGHTSHIFT_GITHUB_RATE_WAIT_MAX=5s

admin() {
	curl -sf -X POST "$API/_admin/$1" -H 'content-type: application/json' -d "$2"
}
state() {
	curl -sf "$API/_admin/state/$1"
}

# the token goes in through the admin API, not the fake's own argument list
admin tokens "{\"token\":\"$CANARY\"}" >/dev/null
admin owners '{"login":"acme","type":"Organization"}' >/dev/null
admin repos '{"owner":"acme","name":"api","files":{"package.json":"{\"name\":\"api\"}\n","src/a.js":"x\n"}}' >/dev/null
admin repos '{"owner":"acme","name":"web"}' >/dev/null
admin collaborators '{"repo":"acme/api","user":"alice","permission":"write"}' >/dev/null
admin collaborators '{"repo":"acme/api","user":"rita","permission":"read"}' >/dev/null

# commit_in DIR FILE TEXT: a commit in a clone
commit_in() {
	printf '%s\n' "$3" >"$1/$2" &&
		git -C "$1" add "$2" &&
		git -C "$1" -c user.name=t -c user.email=t@example.com commit -qm "change $2"
}

test_expect_success 'the repositories of an org are listed and a file is read at a ref' '
	nsh github repos acme >out &&
	grep -q "^acme/api	main$" out &&
	grep -q "^acme/web	main$" out &&
	nsh github read acme/api package.json >file &&
	grep -q "\"name\":\"api\"" file &&
	nsh github read acme/api src/a.js --ref main >file &&
	test "$(cat file)" = x &&
	expect_code 1 nsh github read acme/api nope.txt 2>err &&
	grep -q "no file .nope.txt." err
'

test_expect_success 'clone and push over http; the pull request opens once, with labels' '
	nsh github clone acme/api ws &&
	test -f ws/package.json &&
	! grep -rq "$CANARY" ws/.git &&
	commit_in ws b.txt one &&
	nsh github push acme/api ws feature/one >out &&
	grep -q pushed out &&
	nsh github push acme/api ws feature/one >out &&
	grep -q unchanged out &&
	nsh github pr-open acme/api feature/one "Add b" --body "Why: b" --label nightshift --json >pr &&
	grep -q "\"number\": 1" pr &&
	grep -q "\"existed\": false" pr &&
	nsh github pr-open acme/api feature/one "Add b" --json >pr2 &&
	grep -q "\"existed\": true" pr2 &&
	state acme/api >st &&
	node -e "const s=JSON.parse(require(\"fs\").readFileSync(\"st\"));const p=s.issues.find(i=>i.number===1);
		if(!p.pr||p.pr.draft||p.labels[0].name!==\"nightshift\"||p.body!==\"Why: b\")process.exit(1)"
'

test_expect_success 'a draft is opened, its body and labels changed and made ready' '
	nsh github clone acme/api ws &&
	commit_in ws c.txt two &&
	nsh github push acme/api ws feature/two &&
	nsh github pr-open acme/api feature/two "Add c" --draft --json >pr &&
	grep -q "\"state\": \"draft\"" pr &&
	n=$(sed -n "s/.*\"number\": \([0-9]*\).*/\1/p" pr) &&
	nsh github pr-update "acme/api#$n" --body "new body" --label a --label b --ready &&
	state acme/api >st &&
	N=$n node -e "const s=JSON.parse(require(\"fs\").readFileSync(\"st\"));const p=s.issues.find(i=>i.number===+process.env.N);
		if(p.pr.draft||p.body!==\"new body\"||p.labels.map(l=>l.name).join()!==\"a,b\")process.exit(1)" &&
	nsh_sql "SELECT state, labels FROM prs WHERE number = $n" >row &&
	grep -q "^open|\[\"a\",\"b\"\]$" row
'

test_expect_success 'comments, a reply to a review comment, and reviews are read back' '
	nsh github comment "acme/api#1" "A general note" >id &&
	admin reviews "{\"repo\":\"acme/api\",\"pull\":1,\"user\":\"alice\",\"state\":\"CHANGES_REQUESTED\",\"body\":\"Please rename\",\"comments\":[{\"path\":\"b.txt\",\"line\":1,\"body\":\"name this better\"}]}" >/dev/null &&
	rc=$(state acme/api | node -e "const s=JSON.parse(require(\"fs\").readFileSync(0));console.log(s.review_comments[0].id)") &&
	nsh github comment "acme/api#1" "Renamed" --reply-to "$rc" &&
	nsh github comments "acme/api#1" --json >c &&
	grep -q "\"kind\": \"request_changes\"" c &&
	grep -q "\"body\": \"name this better\"" c &&
	grep -q "\"kind\": \"reply\"" c &&
	grep -q "\"in_reply_to\": $rc" c &&
	grep -q "A general note" c
'

test_expect_success 'write permission: a writer yes, a reader and a stranger no' '
	test "$(nsh github can-write acme/api alice)" = yes &&
	test "$(nsh github can-write acme/api rita)" = no &&
	test "$(nsh github can-write acme/api mallory)" = no
'

test_expect_success 'a secondary rate limit is waited out; a used-up primary one names its reset' '
	admin faults "{\"secondary\":1,\"retry_after\":1}" >/dev/null &&
	nsh github repos acme >out &&
	grep -q acme/web out &&
	admin faults "{\"primary\":1,\"primary_reset_in\":3600}" >/dev/null &&
	expect_code 1 nsh github repos acme 2>err &&
	grep -q "rate limit; it resets at 20" err &&
	! grep -q "$CANARY" err
'

test_expect_success 'a github app mints an installation token from a signed jwt' '
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out app.pem 2>/dev/null &&
	openssl pkey -in app.pem -pubout -out app.pub &&
	node -e "console.log(JSON.stringify({app_id:\"4242\",installation_id:7,public_key:require(\"fs\").readFileSync(\"app.pub\",\"utf8\")}))" >app.json &&
	admin app "$(cat app.json)" >/dev/null &&
	NIGHTSHIFT_GITHUB_TOKEN= NIGHTSHIFT_GITHUB_APP_ID=4242 NIGHTSHIFT_GITHUB_PRIVATE_KEY=$PWD/app.pem \
		NIGHTSHIFT_GITHUB_INSTALLATION_ID=7 nsh github repos acme >out &&
	grep -q acme/api out &&
	curl -sf "$API/_admin/requests" | grep -q "/app/installations/7/access_tokens"
'

test_expect_success 'the status comment is created once, then edited, and left alone when unchanged' '
	nsh tasks >/dev/null &&
	now=$(date +%s000) &&
	nsh_sql "INSERT INTO tasks (id, title, state, network, created_at, updated_at, options) VALUES ('"'"'t-gh1'"'"', '"'"'Upgrade lodash'"'"', '"'"'running'"'"', '"'"'common'"'"', $now, $now, '"'"'{\"github\":{\"repo\":\"acme/api\",\"issue\":1}}'"'"');
		INSERT INTO jobs (id, task_id, repo, state, created_at, updated_at) VALUES ('"'"'j-gh1'"'"', '"'"'t-gh1'"'"', '"'"'acme/api'"'"', '"'"'coding'"'"', $now, $now);" &&
	before=$(curl -sf "$API/_admin/requests" | node -e "const r=JSON.parse(require(\"fs\").readFileSync(0));console.log(r.filter(x=>x.method!==\"GET\"&&/comments/.test(x.path)).length)") &&
	nsh github status t-gh1 &&
	nsh_sql "UPDATE jobs SET state = '"'"'pr_open'"'"' WHERE id = '"'"'j-gh1'"'"'; UPDATE tasks SET state = '"'"'completed'"'"' WHERE id = '"'"'t-gh1'"'"'" &&
	nsh github status t-gh1 &&
	nsh github status t-gh1 &&
	curl -sf "$API/_admin/requests" >req &&
	B=$before node -e "const r=JSON.parse(require(\"fs\").readFileSync(\"req\")).filter(x=>x.method!==\"GET\"&&/comments/.test(x.path)).slice(+process.env.B);
		const posts=r.filter(x=>x.method===\"POST\"&&x.path===\"/repos/acme/api/issues/1/comments\");
		const edits=r.filter(x=>x.method===\"PATCH\"&&/^\/repos\/acme\/api\/issues\/comments\/\d+$/.test(x.path));
		if(posts.length!==1||edits.length!==1)process.exit(1);
		if(!/coding/.test(posts[0].body.body)||!/pr_open/.test(edits[0].body.body)||!/Summary/.test(edits[0].body.body))process.exit(2)"
'

test_expect_success 'polling hands on a labelled issue and a new comment exactly once across restarts' '
	export NIGHTSHIFT_GITHUB_WATCH=acme/web NIGHTSHIFT_GITHUB_LABEL=nightshift &&
	admin issues "{\"repo\":\"acme/web\",\"title\":\"Upgrade lodash\",\"body\":\"please\",\"labels\":[\"nightshift\"]}" >/dev/null &&
	admin issues "{\"repo\":\"acme/web\",\"title\":\"Unrelated\",\"labels\":[\"bug\"]}" >/dev/null &&
	nsh github poll >d1 &&
	test $(wc -l <d1) -eq 1 &&
	grep -q "\"event\":\"issues\"" d1 &&
	grep -q "\"action\":\"labeled\"" d1 &&
	grep -q "Upgrade lodash" d1 &&
	nsh github poll >d2 &&
	test ! -s d2 &&
	sleep 1 &&
	admin comments "{\"repo\":\"acme/web\",\"issue\":1,\"body\":\"/nightshift also bump chalk\",\"user\":\"alice\"}" >/dev/null &&
	nsh github poll --rounds 2 >d3 &&
	test $(wc -l <d3) -eq 1 &&
	grep -q "\"event\":\"issue_comment\"" d3 &&
	grep -q "also bump chalk" d3 &&
	grep -q "\"number\":1" d3 &&
	nsh github poll >d4 &&
	test ! -s d4 &&
	curl -sf "$API/_admin/requests" | node -e "const r=JSON.parse(require(\"fs\").readFileSync(0));
		if(!r.some(x=>x.status===304&&x.headers[\"if-none-match\"]))process.exit(1)"
'

# polled_since N: what the requests after the first N asked and got, one "METHOD PATH STATUS INM"
# line each (INM: whether If-None-Match was sent)
polled_since() {
	curl -sf "$API/_admin/requests" | N=$1 node -e "
		const r=JSON.parse(require(\"fs\").readFileSync(0)).slice(+process.env.N).filter(x=>!x.git);
		for(const x of r)console.log(x.method,x.path,x.status,x.headers[\"if-none-match\"]?\"inm\":\"-\")"
}
requests_now() {
	curl -sf "$API/_admin/requests" | node -e "console.log(JSON.parse(require(\"fs\").readFileSync(0)).length)"
}

test_expect_success 'a restarted poller sends the ETags it kept: unchanged lists are 304s, nothing is read again' '
	export NIGHTSHIFT_GITHUB_WATCH=acme/web NIGHTSHIFT_GITHUB_LABEL=nightshift &&
	nsh github poll >e1 &&
	test $(wc -l <e1) -eq 1 &&
	grep -q "Upgrade lodash" e1 &&
	nsh_sql "SELECT count(*) FROM github_poll WHERE key LIKE '"'"'acme/web:%'"'"' AND etag IS NOT NULL" >n &&
	test "$(cat n)" = 3 &&
	before=$(requests_now) &&
	nsh github poll >e2 &&
	test ! -s e2 &&
	polled_since $before >p2 &&
	cat p2 &&
	grep -q "^GET /repos/acme/web/issues 304 inm$" p2 &&
	grep -q "^GET /repos/acme/web/issues/comments 304 inm$" p2 &&
	grep -q "^GET /repos/acme/web/pulls/comments 304 inm$" p2 &&
	! grep -v " 304 inm$" p2 &&

	sleep 1 &&
	admin comments "{\"repo\":\"acme/web\",\"issue\":1,\"body\":\"/nightshift and moment\",\"user\":\"alice\"}" >/dev/null &&
	before=$(requests_now) &&
	nsh github poll >e3 &&
	test $(wc -l <e3) -eq 1 &&
	grep -q "and moment" e3 &&
	polled_since $before >p3 &&
	cat p3 &&
	grep -q "^GET /repos/acme/web/issues/comments 200 inm$" p3 &&
	grep -q "^GET /repos/acme/web/issues/1 200 -$" p3 &&
	grep -q "^GET /repos/acme/web 200 -$" p3 &&

	before=$(requests_now) &&
	nsh github poll >e4 &&
	test ! -s e4 &&
	polled_since $before >p4 &&
	cat p4 &&
	grep -q "^GET /repos/acme/web/issues/comments 200 -$" p4 &&
	! grep -q "^GET /repos/acme/web/issues/1 " p4 &&
	! grep -q "^GET /repos/acme/web " p4 &&

	before=$(requests_now) &&
	nsh github poll >e5 &&
	test ! -s e5 &&
	polled_since $before >p5 &&
	cat p5 &&
	test $(wc -l <p5) -eq 3 &&
	! grep -v " 304 inm$" p5
'

# polled_lists FILE: the GETs of the three polled lists of acme/web in FILE (from polled_since)
polled_lists() {
	grep -E "^GET /repos/acme/web/(issues|issues/comments|pulls/comments) " "$1"
}

test_expect_success 'nightshift serve polls with the ETags kept: after a restart its rounds are 304s' '
	export NIGHTSHIFT_GITHUB_WATCH=acme/web NIGHTSHIFT_GITHUB_LABEL=nightshift \
		NIGHTSHIFT_GITHUB_POLL_INTERVAL=1 &&
	# The first round takes comments from the current second on (the
	# cursor has whole seconds): one an earlier test wrote in that second
	# would count as new. Let that second pass.
	sleep 1.1 &&
	before=$(requests_now) &&
	nsh_daemon_start --no-scheduler --rate-limit 0 &&
	sleep 3;
	nsh_daemon_stop;
	polled_since $before >s1 &&
	polled_lists s1 >l1 &&
	cat l1 &&
	test $(grep -c "^GET /repos/acme/web/issues " l1) -ge 2 &&
	grep -q "^GET /repos/acme/web/issues 304 inm$" l1 &&
	nsh_sql "SELECT count(*) FROM webhook_deliveries WHERE id LIKE '"'"'poll-issues-labeled-%'"'"'" >n &&
	test "$(cat n)" = 1 &&

	before=$(requests_now) &&
	nsh_daemon_start --no-scheduler --rate-limit 0 &&
	sleep 3;
	nsh_daemon_stop;
	polled_since $before >s2 &&
	polled_lists s2 >l2 &&
	cat l2 &&
	test $(wc -l <l2) -ge 3 &&
	! grep -v " 304 inm$" l2 &&
	! grep -q "^GET /repos/acme/web 200" s2 &&
	nsh_sql "SELECT count(*) FROM webhook_deliveries WHERE id LIKE '"'"'poll-%'"'"'" >n &&
	test "$(cat n)" = 1
'

test_expect_success 'the token is in no argument list while a slow push runs, nor in any file' '
	admin faults "{\"git_delay_ms\":3000}" >/dev/null &&
	nsh github clone acme/web ws &&
	commit_in ws d.txt three &&
	nsh github push acme/web ws feature/slow >out 2>&1 &
	pid=$! &&
	seen=0 && leaked=0 && i=0 &&
	while kill -0 $pid 2>/dev/null && [ $i -lt 200 ]; do
		for f in /proc/[0-9]*/cmdline; do
			{ c=$(tr "\0" " " <"$f"); } 2>/dev/null || continue
			case $c in *"$CANARY"*) leaked=1 ;; esac
			case $c in *git*receive-pack*|*git*push*|*remote-http*) seen=1 ;; esac
		done
		i=$((i + 1))
	done &&
	wait $pid &&
	admin faults "{\"git_delay_ms\":0}" >/dev/null &&
	test $seen = 1 &&
	test $leaked = 0 &&
	grep -q pushed out &&
	! grep -rqa "$CANARY" home ws out &&
	! grep -q "$CANARY" "$FAKE/requests.jsonl"
'

test_expect_success 'no request broke GitHub'"'"'s OpenAPI description' '
	curl -sf "$API/_admin/violations" >v &&
	test "$(cat v)" = "[]" &&
	test "$(curl -sf "$API/_admin/requests" | node -e "console.log(JSON.parse(require(\"fs\").readFileSync(0)).filter(r=>!r.git&&r.path!==\"/graphql\").length)")" -gt 30
'

test_done
