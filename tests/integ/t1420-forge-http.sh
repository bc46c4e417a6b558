#!/bin/sh
# The forge over git's smart HTTP protocol (issue 14): a machine that has
# only the daemon's URL and token clones, fetches and (when the setting
# allows it) pushes with plain git; everything else is refused. (Pushes of
# workers' job branches, which [forge] worker_push allows, are in t1421.)
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

GIT_CONFIG_GLOBAL=/dev/null
GIT_CONFIG_NOSYSTEM=1
GIT_TERMINAL_PROMPT=0
GIT_AUTHOR_NAME=Tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=Tester
GIT_COMMITTER_EMAIL=tester@example.com
export GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM GIT_TERMINAL_PROMPT GIT_AUTHOR_NAME \
	GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

# One home for the script: a repository in the forge, then a daemon.
FHOME=$T_TRASH/forge-home
mkdir -p "$FHOME"
NIGHTSHIFT_HOME=$FHOME
export NIGHTSHIFT_HOME
nsh_shared_store "$FHOME" || exit 1
SRC=$T_TRASH/svc
git init -q -b main "$SRC" && echo hello >"$SRC/a.txt" && mkdir "$SRC/lib" &&
	echo 'int x;' >"$SRC/lib/x.c" && git -C "$SRC" add . &&
	git -C "$SRC" commit -qm init && git -C "$SRC" branch feature &&
	nsh forge import acme "$SRC" >/dev/null || exit 1
BARE=$FHOME/forge/acme/svc.git
trap 'nsh_daemon_stop; t_cleanup' EXIT
nsh_daemon_start --no-scheduler --rate-limit 0 || exit 1
export BARE SRC

# url [CRED]: the repository's URL, with CRED@ when given.
url() {
	hostport=${NSH_URL#http://}
	echo "http://${1:+$1@}$hostport/git/acme/svc.git"
}

# status PATH [CURL-ARGS...]: the HTTP status of GET $NSH_URL/PATH.
status() {
	p=$1
	shift
	curl -s --path-as-is -o body -w '%{http_code}' "$@" "$NSH_URL/$p"
}

test_expect_success 'clone with the token as the password: the content matches' '
	git clone -q "$(url "x:$NSH_TOKEN")" c &&
	test "$(git -C c rev-parse HEAD)" = "$(git -C "$SRC" rev-parse HEAD)" &&
	cmp c/a.txt "$SRC/a.txt" && cmp c/lib/x.c "$SRC/lib/x.c" &&
	git -C c fsck --no-progress &&
	git -C c branch -r >branches && grep -q "origin/feature" branches
'

test_expect_success 'clone with a bearer token in http.extraHeader, then fetch a new commit' '
	git -c "http.extraHeader=Authorization: Bearer $NSH_TOKEN" clone -q "$(url)" c &&
	tree=$(git -C "$BARE" rev-parse "main^{tree}") &&
	new=$(git -C "$BARE" commit-tree -p main -m "server side" "$tree") &&
	git -C "$BARE" update-ref refs/heads/main "$new" &&
	git -C c -c "http.extraHeader=Authorization: Bearer $NSH_TOKEN" fetch -q origin &&
	test "$(git -C c rev-parse origin/main)" = "$new"
'

test_expect_success 'a fetch with a long negotiation (gzip-encoded requests) works' '
	git clone -q "$(url "x:$NSH_TOKEN")" c &&
	# local commits newer than the common one: the client sends many haves
	now=$(date +%s) &&
	for i in $(seq 1 300); do
		printf "commit refs/heads/main\ncommitter T <t@e> %d +0000\ndata 4\nl%03d\n" \
			$((now + i)) "$i" || exit 1
		[ "$i" -gt 1 ] || echo "from $(git -C c rev-parse HEAD)"
	done >stream &&
	git -C c fast-import --quiet <stream &&
	tree=$(git -C "$BARE" rev-parse "main^{tree}") &&
	new=$(git -C "$BARE" commit-tree -p main -m again "$tree") &&
	git -C "$BARE" update-ref refs/heads/main "$new" &&
	GIT_TRACE_CURL=1 GIT_TRACE_CURL_NO_DATA=1 git -C c fetch origin 2>trace &&
	grep -q "Content-Encoding: gzip" trace &&
	test "$(git -C c rev-parse origin/main)" = "$new"
'

test_expect_success 'no token or a wrong one: 401 with a Basic challenge, and git fails' '
	test "$(status git/acme/svc.git/info/refs?service=git-upload-pack -D hdr)" = 401 &&
	grep -qi "^WWW-Authenticate: Basic realm=\"nightshift\"" hdr &&
	test "$(status git/acme/svc.git/info/refs?service=git-upload-pack -u x:wrong)" = 401 &&
	test "$(status git/acme/svc.git/info/refs?service=git-upload-pack \
		-H "Authorization: Bearer nope")" = 401 &&
	test "$(status git/acme/nope.git/info/refs?service=git-upload-pack)" = 401 &&
	! git clone -q "$(url)" c1 2>err1 && test ! -d c1/.git &&
	! git clone -q "$(url x:wrong-token)" c2 2>err2 && test ! -d c2/.git &&
	grep -q "Authentication failed\|401" err2
'

test_expect_success 'escapes, bad names and unknown repositories are refused' '
	a="-u x:$NSH_TOKEN" &&
	test "$(status git/../token $a)" = 400 &&
	test "$(status git/../token/x/info/refs?service=git-upload-pack $a)" = 400 &&
	test "$(status git/acme/../svc.git/info/refs?service=git-upload-pack $a)" = 400 &&
	test "$(status git/acme/%2e%2e/info/refs?service=git-upload-pack $a)" = 400 &&
	test "$(status git/acme/nope.git/info/refs?service=git-upload-pack $a)" = 404 &&
	test "$(status git/other/svc.git/info/refs?service=git-upload-pack $a)" = 404 &&
	test "$(status git/acme/svc.git/HEAD $a)" = 404 &&
	test "$(status git/acme/svc.git/objects/info/packs $a)" = 404 &&
	test "$(status git/acme/svc.git/info/refs $a)" = 403 &&
	test "$(status git/acme/svc.git/info/refs?service=git-foo $a)" = 400 &&
	test "$(status git/acme/svc.git/git-upload-pack $a)" = 405 &&
	! git clone -q "http://x:$NSH_TOKEN@${NSH_URL#http://}/git/acme/nope.git" c 2>err &&
	grep -q "404\|not found" err
'

test_expect_success 'while [forge] http_push is off, a push of a branch no worker runs a job on is refused' '
	git clone -q "$(url "x:$NSH_TOKEN")" c &&
	echo more >>c/a.txt && git -C c commit -qam more &&
	before=$(git -C "$BARE" for-each-ref) &&
	! git -C c push origin HEAD:refs/heads/feature 2>err &&
	grep -q "remote rejected.*only the branch of a job" err &&
	! git -C c push origin HEAD:refs/heads/nightshift/t-x/y 2>err &&
	grep -q "remote rejected.*no job" err &&
	! git -C c push origin HEAD:refs/heads/main 2>err && grep -q "remote rejected" err &&
	test "$(git -C "$BARE" for-each-ref)" = "$before" &&
	grep -q "refused a push to .refs/heads/main." "$FHOME/daemon.log"
'

# Pushes from workers off too: every push is refused before git runs.
nsh_daemon_stop || exit 1
printf '[forge]\nworker_push = false\n' >"$FHOME/config"
nsh_daemon_start --no-scheduler --rate-limit 0 || exit 1

test_expect_success 'with [forge] worker_push = false as well, a push is 403 naming http_push' '
	git clone -q "$(url "x:$NSH_TOKEN")" c &&
	echo more >>c/a.txt && git -C c commit -qam more &&
	before=$(git -C "$BARE" rev-parse refs/heads/feature) &&
	! git -C c push -q origin HEAD:refs/heads/feature 2>err &&
	grep -q "403" err && grep -q "http_push" err &&
	test "$(git -C "$BARE" rev-parse refs/heads/feature)" = "$before" &&
	test "$(status git/acme/svc.git/info/refs?service=git-receive-pack -u x:$NSH_TOKEN)" = 403
'

# A daemon that takes pushes, with a small body cap.
nsh_daemon_stop || exit 1
printf '[forge]\nhttp_push = true\nhttp_max_body = 12M\n' >"$FHOME/config"
nsh_daemon_start --no-scheduler --rate-limit 0 || exit 1

test_expect_success 'with http_push on: a push with the token moves the branch' '
	git clone -q "$(url "x:$NSH_TOKEN")" c &&
	echo more >>c/a.txt && git -C c commit -qam more &&
	git -C c push -q origin HEAD:refs/heads/feature &&
	test "$(git -C "$BARE" rev-parse refs/heads/feature)" = "$(git -C c rev-parse HEAD)" &&
	git -C c push -q origin HEAD:refs/heads/topic &&
	git -C "$BARE" rev-parse -q --verify refs/heads/topic &&
	! git -C c push -q "$(url x:wrong-token)" HEAD:refs/heads/other 2>err &&
	! git -C "$BARE" rev-parse -q --verify refs/heads/other
'

test_expect_success 'a push of several MB of random data works; one past the cap is 413' '
	git clone -q "$(url "x:$NSH_TOKEN")" c &&
	head -c 6000000 /dev/urandom >c/big.bin && git -C c add big.bin &&
	git -C c commit -qm big && git -C c push -q origin HEAD:refs/heads/big &&
	git -C "$BARE" cat-file -e "refs/heads/big:big.bin" &&
	git -C "$BARE" cat-file blob refs/heads/big:big.bin | cmp - c/big.bin &&
	head -c 14000000 /dev/urandom >c/huge.bin && git -C c add huge.bin &&
	git -C c commit -qm huge &&
	! git -C c push -q origin HEAD:refs/heads/huge 2>err &&
	grep -q "413" err &&
	! git -C "$BARE" rev-parse -q --verify refs/heads/huge &&
	git clone -q "$(url "x:$NSH_TOKEN")" -b big c2 && cmp c2/big.bin c/big.bin
'

# A git that hangs: the daemon's git finds a wrapper first in PATH that
# sleeps instead of running http-backend (every other git command runs).
nsh_daemon_stop || exit 1
FAKE=$T_TRASH/fake-bin
REALGIT=$(command -v git)
mkdir -p "$FAKE" &&
	printf '#!/bin/sh\nfor a; do [ "$a" = http-backend ] && exec sleep 61; done\nexec %s "$@"\n' \
		"$REALGIT" >"$FAKE/git" &&
	chmod +x "$FAKE/git" &&
	printf '[forge]\nhttp_idle = 1s\n' >"$FHOME/config" || exit 1
PATH=$FAKE:$PATH nsh_daemon_start --no-scheduler --rate-limit 0 || exit 1

test_expect_success 'a git http-backend that says nothing for [forge] http_idle is killed: 504' '
	! git clone -q "$(url "x:$NSH_TOKEN")" c 2>err &&
	grep -q "504" err &&
	grep -q "said nothing for 1 s: killed\|no output for 1 s" "$FHOME/daemon.log" &&
	! pgrep -x -f "sleep 61" >/dev/null
'

test_done
