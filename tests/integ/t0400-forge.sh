#!/bin/sh
# The local forge from the command line: forge init|import|repos|path|push
# and the pull request life cycle (create, inline and general comments,
# reviews, a forced update with its head history, diff, merge, conflicts,
# close), with exit codes and one-line errors.
. "$(dirname "$0")/lib.sh"

# The test's own git: a fixed identity, no user or system configuration.
GIT_CONFIG_GLOBAL=/dev/null
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_NAME=Tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=Tester
GIT_COMMITTER_EMAIL=tester@example.com
export GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL \
	GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

# make_repo DIR BRANCH: a repository with JavaScript, Python and a README.
make_repo() {
	git init -q -b "$2" "$1" &&
	mkdir -p "$1/src" "$1/tools" &&
	printf 'const _ = require("lodash");\nmodule.exports = _.map;\n' >"$1/src/app.js" &&
	printf 'exports.a = 1;\n' >"$1/src/util.js" &&
	printf 'print("hi")\n' >"$1/tools/gen.py" &&
	printf '# demo\n' >"$1/README.md" &&
	git -C "$1" add -A &&
	git -C "$1" commit -q -m "first commit"
}

# forge_setup: org acme with repository api imported, and a clone of it in ws.
forge_setup() {
	make_repo api main &&
	nsh forge import acme api >/dev/null &&
	git clone -q "$(nsh forge path acme/api)" ws
}

test_expect_success 'import copies every branch and tag; repos lists them' '
	make_repo web trunk &&
	git -C web branch feature/x &&
	git -C web tag v1.0 &&
	make_repo svc main &&
	git clone -q --bare svc svc-bare.git &&
	nsh forge init acme >out &&
	grep -q "org .acme. created" out &&
	nsh forge import acme web svc-bare.git >out &&
	grep -q "imported acme/web from .*/web (default branch trunk)" out &&
	grep -q "imported acme/svc-bare from" out &&
	bare=$NIGHTSHIFT_HOME/forge/acme/web.git &&
	test -d "$bare" &&
	git -C "$bare" rev-parse -q --verify refs/heads/feature/x >/dev/null &&
	git -C "$bare" rev-parse -q --verify refs/tags/v1.0 >/dev/null &&
	test "$(git -C "$bare" symbolic-ref HEAD)" = refs/heads/trunk &&
	test "$(git -C "$bare" rev-parse trunk)" = "$(git -C web rev-parse trunk)" &&
	nsh forge repos acme >out &&
	test "$(sed -n 1p out | tr -s " ")" = "NAME DEFAULT LAST COMMIT DATE LANGUAGES" &&
	grep -Eq "^web +trunk +[0-9a-f]{12} 20[0-9-]+ JavaScript 2, Python 1$" out &&
	grep -Eq "^svc-bare +main " out &&
	grep -q "first commit" out
'

test_expect_success 'repos --json has the path, last commit and language counts' '
	make_repo web main &&
	nsh forge import acme web >/dev/null &&
	nsh forge repos acme --json >out &&
	grep -q "\"name\": \"web\"" out &&
	grep -q "\"default_branch\": \"main\"" out &&
	grep -q "\"path\": \"$NIGHTSHIFT_HOME/forge/acme/web.git\"" out &&
	grep -q "\"sha\": \"$(git -C web rev-parse HEAD)\"" out &&
	grep -q "\"subject\": \"first commit\"" out &&
	tr -d " \n" <out | grep -q "\"languages\":\[{\"name\":\"JavaScript\",\"files\":2},{\"name\":\"Python\",\"files\":1}\]"
'

test_expect_success 'import refuses what is not a repository, naming the path' '
	make_repo web main &&
	mkdir plain &&
	expect_code 1 nsh forge import acme plain 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "^nightshift: error: .*/plain. is not a git repository" err &&
	expect_code 1 nsh forge import acme web/src 2>err &&
	grep -q "web/src. is not a git repository" err &&
	expect_code 1 nsh forge import acme nowhere 2>err &&
	grep -q "nowhere" err &&
	git init -q empty &&
	expect_code 1 nsh forge import acme empty 2>err &&
	grep -q "has no branches" err &&
	test ! -e "$NIGHTSHIFT_HOME/forge/acme/empty.git" &&
	test ! -e "$NIGHTSHIFT_HOME/forge/acme/plain.git"
'

test_expect_success 'import of an existing name is refused and the copy kept' '
	make_repo web main &&
	nsh forge import acme web >/dev/null &&
	before=$(git -C "$NIGHTSHIFT_HOME/forge/acme/web.git" rev-parse main) &&
	echo more >web/more.txt && git -C web add -A && git -C web commit -q -m more &&
	expect_code 1 nsh forge import acme web 2>err &&
	grep -q "repository .acme/web. exists already" err &&
	test "$(git -C "$NIGHTSHIFT_HOME/forge/acme/web.git" rev-parse main)" = "$before" &&
	nsh forge import acme web --name web-2 >out &&
	grep -q "imported acme/web-2" out
'

test_expect_success 'bad names and usage give exit 2 and one line' '
	make_repo web main &&
	expect_code 2 nsh forge import "../x" web 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "invalid org name" err &&
	expect_code 2 nsh forge init "a..b" 2>err &&
	grep -q "must not contain" err &&
	expect_code 2 nsh forge import acme web other --name x 2>err &&
	expect_code 2 nsh forge repos 2>err &&
	grep -q "missing ORG" err &&
	expect_code 2 nsh forge frobnicate 2>err &&
	expect_code 1 nsh forge repos nosuch 2>err &&
	grep -q "no org .nosuch." err &&
	expect_code 2 nsh pr show acme/api 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "expected ORG/REPO#NUMBER" err &&
	expect_code 2 nsh pr show "acme/api#x" 2>err &&
	expect_code 2 nsh pr review "acme/api#1" "no verdict" 2>err &&
	grep -q "missing --approve or --request-changes" err &&
	expect_code 2 nsh pr comment "acme/api#1" "x" --file a.js 2>err &&
	grep -q "go together" err &&
	expect_code 2 nsh pr comment "acme/api#1" "x" --file a.js --line 0 2>err &&
	expect_code 2 nsh pr list --state sleeping 2>err &&
	expect_code 1 nsh pr show "acme/api#9" 2>err &&
	grep -q "no pull request .acme/api#9." err
'

test_expect_success 'the default branch is never pushed to' '
	forge_setup &&
	echo x >>ws/src/app.js && git -C ws commit -q -am change &&
	expect_code 1 nsh forge push acme/api ws main 2>err &&
	grep -q "default branch" err
'

test_expect_success 'pull request life cycle: comments, reviews, forced update, merge' '
	forge_setup &&
	git -C ws checkout -q -b nightshift/lodash-4 &&
	printf "const _ = require(\"lodash\");\nmodule.exports = _.flatMap;\n// v4\n" >ws/src/app.js &&
	git -C ws commit -q -am "use lodash 4" &&
	first=$(git -C ws rev-parse HEAD) &&
	nsh forge push acme/api ws nightshift/lodash-4 >out &&
	grep -q "new branch at" out &&
	nsh pr create acme/api --head nightshift/lodash-4 --title "Upgrade lodash to 4" \
		--body "Moves to lodash 4." --label nightshift --author bot >out &&
	grep -q "opened acme/api#1: Upgrade lodash to 4" out &&
	nsh pr create acme/api --head nightshift/lodash-4 --title "again" >out &&
	grep -q "already open acme/api#1" out &&

	nsh pr comment "acme/api#1" "Looks close." --author alice >out &&
	grep -q "comment #1 on acme/api#1" out &&
	nsh pr comment "acme/api#1" "flatMap needs a test" --file src/app.js --line 2 \
		--author alice >out &&
	grep -q "comment #2 on acme/api#1 at src/app.js:2" out &&
	expect_code 1 nsh pr comment "acme/api#1" "x" --file src/app.js --line 9 2>err &&
	grep -q "has 3 lines" err &&
	expect_code 1 nsh pr comment "acme/api#1" "x" --file nope.js --line 1 2>err &&
	grep -q "no file .nope.js." err &&
	nsh pr review "acme/api#1" --request-changes "add a test" --author alice >out &&
	grep -q "changes requested" out &&

	echo "require(\"../src/app\");" >ws/app.test.js &&
	git -C ws add -A && git -C ws commit -q --amend -m "use lodash 4, with a test" &&
	second=$(git -C ws rev-parse HEAD) &&
	expect_code 1 nsh forge push acme/api ws nightshift/lodash-4 2>err &&
	grep -q "a forced update is needed" err &&
	nsh forge push acme/api ws nightshift/lodash-4 --force >out &&
	grep -q "(forced)" out &&
	grep -q "pull request acme/api#1: head 2 recorded" out &&
	nsh forge push acme/api ws nightshift/lodash-4 --force >out &&
	grep -q "already at" out &&

	nsh pr show "acme/api#1" >out &&
	grep -q "^acme/api#1  Upgrade lodash to 4$" out &&
	grep -q "^state    open$" out &&
	grep -q "^author   bot$" out &&
	grep -q "^branches nightshift/lodash-4 -> main$" out &&
	grep -q "^head     $second (head 2 of 2)$" out &&
	grep -q "^labels   nightshift$" out &&
	grep -q "Moves to lodash 4." out &&
	grep -Eq "^  1 +$first " out &&
	grep -Eq "^  2 +$second .* forced" out &&
	grep -q "alice commented on src/app.js:2 at $(echo "$first" | cut -c1-12)" out &&
	grep -q "alice requested changes" out &&

	short=$(echo "$first" | cut -c1-8) &&
	nsh pr comment "acme/api#1" "on the old head" --file src/app.js --line 3 --head "$short" >out &&
	nsh pr show "acme/api#1" --json >out &&
	tr -d " \n" <out >flat &&
	grep -q "\"heads\":\[{\"seq\":1,\"sha\":\"$first\",\"forced\":false" flat &&
	grep -q "{\"seq\":2,\"sha\":\"$second\",\"forced\":true" flat &&
	grep -q "\"path\":\"src/app.js\",\"line\":2,\"head_sha\":\"$first\"" flat &&
	grep -q "\"kind\":\"request_changes\"" flat &&

	nsh pr show "acme/api#1" --diff >diff &&
	grep -q "^+module.exports = _.flatMap;" diff &&
	grep -q "app.test.js" diff &&
	nsh pr show "acme/api#1" --diff --head "$short" >diff &&
	! grep -q "app.test.js" diff &&

	nsh pr review "acme/api#1" --approve "thanks" --author alice >out &&
	grep -q "approved" out &&
	base=$(git -C "$NIGHTSHIFT_HOME/forge/acme/api.git" rev-parse main) &&
	nsh pr merge "acme/api#1" --author alice >out &&
	grep -Eq "merged acme/api#1 \(merge commit [0-9a-f]{40}\)" out &&
	bare=$NIGHTSHIFT_HOME/forge/acme/api.git &&
	test "$(git -C "$bare" rev-parse main^1)" = "$base" &&
	test "$(git -C "$bare" rev-parse main^2)" = "$second" &&
	git -C "$bare" show main:app.test.js | grep -q "src/app" &&
	nsh pr show "acme/api#1" >out &&
	grep -q "^state    merged$" out &&
	grep -q "^merged   .* by alice$" out &&
	expect_code 1 nsh pr merge "acme/api#1" 2>err &&
	grep -q "is merged" err &&
	expect_code 1 nsh pr close "acme/api#1" 2>err
'

test_expect_success 'a merge that does not apply is refused, naming the files' '
	forge_setup &&
	git -C ws checkout -q -b one &&
	echo "exports.a = 1;" >ws/src/util.js && echo one >>ws/src/util.js &&
	git -C ws commit -q -am one &&
	nsh forge push acme/api ws one >/dev/null &&
	nsh pr create acme/api --head one --title One >/dev/null &&
	git -C ws checkout -q -b two main &&
	echo "exports.a = 1;" >ws/src/util.js && echo two >>ws/src/util.js &&
	git -C ws commit -q -am two &&
	nsh forge push acme/api ws two >/dev/null &&
	nsh pr create acme/api --head two --title Two >/dev/null &&
	nsh pr merge "acme/api#1" >/dev/null &&
	before=$(git -C "$NIGHTSHIFT_HOME/forge/acme/api.git" rev-parse main) &&
	expect_code 1 nsh pr merge "acme/api#2" 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "does not merge cleanly into .main.: conflicts in .src/util.js." err &&
	test "$(git -C "$NIGHTSHIFT_HOME/forge/acme/api.git" rev-parse main)" = "$before" &&
	nsh pr show "acme/api#2" | grep -q "^state    open$"
'

test_expect_success 'list filters, edit, drafts and close' '
	forge_setup &&
	git -C ws checkout -q -b feat &&
	echo x >ws/new.js && git -C ws add -A && git -C ws commit -q -m new &&
	nsh forge push acme/api ws feat >/dev/null &&
	nsh pr create acme/api --head feat --title Draft --draft --json >out &&
	grep -q "\"state\": \"draft\"" out &&
	grep -q "\"existed\": false" out &&
	expect_code 1 nsh pr merge "acme/api#1" 2>err &&
	grep -q "is a draft" err &&
	nsh pr edit "acme/api#1" --ready --title "Ready now" --label a --label b >/dev/null &&
	nsh pr list >out &&
	grep -Eq "^acme/api#1 +open +.* feat .* Ready now$" out &&
	nsh pr list --state draft >out &&
	grep -q "no pull requests" out &&
	nsh pr list --org other >out &&
	grep -q "no pull requests" out &&
	nsh pr list --repo acme/api --json >out &&
	tr -d " \n" <out | grep -q "\"labels\":\[\"a\",\"b\"\]" &&
	nsh pr close "acme/api#1" >out &&
	grep -q "closed acme/api#1" out &&
	nsh pr close "acme/api#1" >/dev/null &&
	nsh pr list --state closed >out &&
	grep -q "acme/api#1" out &&
	expect_code 1 nsh pr review "acme/api#1" --approve "late" 2>err &&
	grep -q "is closed" err
'

test_done
