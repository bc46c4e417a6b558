#!/bin/sh
# nightshift verify DIR [--baseline REF] [--json]: the whole pipeline on a
# Node checkout with a known verdict: a clean project passes; a change that
# breaks a test, plants a key and skips a test fails with each finding at
# its file and line, and never prints the key; criteria that need a judge
# make it "needs review"; the baseline checkout leaves the repository as
# it was.
. "$(dirname "$0")/lib.sh"

# A key for the scanner, assembled here so that this file holds none.
KEY_TAIL=Zq8Lm2Xv7Rt4Pw9Ks3Jd6Hf1
KEY="sk_""live_$KEY_TAIL"

# json FILE EXPR: print a value of a JSON file (EXPR in terms of j).
json() {
	node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		 const v = ('"$2"'); console.log(v === undefined ? "" : v);' "$1"
}

# shop: a small Node project whose tests pass, committed.
make_shop() {
	mkdir -p shop/src shop/test &&
	cat >shop/package.json <<-'EOF' &&
	{"name": "shop", "version": "1.0.0", "scripts": {"test": "node --test"}}
	EOF
	cat >shop/src/total.js <<-'EOF' &&
	exports.total = (xs) => xs.reduce((a, b) => a + b, 0);
	exports.avg = (xs) => (xs.length ? exports.total(xs) / xs.length : 0);
	EOF
	cat >shop/test/total.test.js <<-'EOF' &&
	const test = require('node:test');
	const assert = require('node:assert');
	const { total, avg } = require('../src/total');
	test('adds', () => {
	  assert.strictEqual(total([1, 2]), 3);
	});
	test('averages', () => {
	  assert.strictEqual(avg([2, 4]), 3);
	});
	EOF
	git -C shop init -q &&
	git -C shop add -A &&
	git -C shop -c user.name=t -c user.email=t@t commit -qm base
}

# The change: avg breaks, a key is planted, a test is skipped; committed.
break_shop() {
	cat >shop/src/total.js <<-'EOF' &&
	exports.total = (xs) => xs.reduce((a, b) => a + b, 0);
	exports.avg = (xs) => exports.total(xs) / (xs.length + 1);
	EOF
	printf "const stripe = require('stripe');\nconst client = stripe('%s');\n" "$KEY" \
		>shop/src/pay.js &&
	sed -i "s/^test('adds'/test.skip('adds'/" shop/test/total.test.js &&
	git -C shop add -A &&
	git -C shop -c user.name=t -c user.email=t@t commit -qm change
}

test_expect_success 'usage errors exit 2 with one line' '
	expect_code 2 nsh verify 2>err &&
	grep -q "missing DIR" err &&
	expect_code 2 nsh verify a b 2>err &&
	grep -q "unexpected argument .b." err &&
	expect_code 2 nsh verify --frobnicate . 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	expect_code 2 nsh verify . --timeout never 2>err &&
	grep -q "invalid --timeout" err
'

test_expect_success 'a directory that does not exist is a failure that names it' '
	expect_code 1 nsh verify ./nope 2>err &&
	grep -q "no directory .\./nope." err
'

test_expect_success 'a clean project passes: its tests ran and nothing was found' '
	make_shop &&
	nsh verify shop >out &&
	grep -q "^verification of .*/shop: pass$" out &&
	grep -Eq "^  ok   tests +2 passed, 0 failed, 0 skipped by .npm run test." out &&
	grep -Eq "^  ok   secrets +0 found" out &&
	grep -Eq "^  --   integrity +no baseline revision" out &&
	nsh verify shop --json >out.json &&
	test "$(json out.json j.verdict)" = pass &&
	test "$(json out.json "j.checks.find(c => c.id === \"tests\").status")" = pass &&
	test "$(json out.json j.tests.passed)" = 2 &&
	test "$(json out.json "j.plan.ecosystems.join()")" = node
'

test_expect_success 'a breaking change fails with file:line findings and no key in the output' '
	make_shop &&
	base=$(git -C shop rev-parse HEAD) &&
	break_shop &&
	git -C shop status --porcelain >status.before &&
	expect_code 1 nsh verify shop --baseline "$base" >out 2>err &&
	grep -q ": FAIL$" out &&
	grep -q "test/total.test.js:7: \[newly-failing\] averages" out &&
	grep -q "src/pay.js:2: \[stripe-key\] Stripe secret key" out &&
	grep -q "test/total.test.js:4: \[test-skipped\]" out &&
	! grep -q "$KEY_TAIL" out err &&
	nsh verify shop --baseline "$base" --json >out.json; test $? -eq 1 &&
	test "$(json out.json j.verdict)" = fail &&
	test "$(json out.json "j.tests.broken.join()")" = averages &&
	test "$(json out.json "j.tests.diff.missing.join()")" = "" &&
	test "$(json out.json "j.checks.find(c => c.id === \"secrets\").findings[0].line")" = 2 &&
	test "$(json out.json "j.checks.find(c => c.id === \"integrity\").status")" = fail &&
	! grep -q "$KEY_TAIL" out.json &&
	nsh verify shop --baseline "$base" --markdown >out.md; test $? -eq 1 &&
	grep -q "^### Verification: failed$" out.md &&
	grep -q "^- \[ \] \*\*Tests\*\*: failed" out.md &&
	grep -q "^- \[x\] \*\*SQL injection\*\*: passed" out.md &&
	! grep -q "$KEY_TAIL" out.md &&
	git -C shop status --porcelain >status.after &&
	cmp status.before status.after &&
	test "$(git -C shop worktree list | wc -l)" -eq 1
'

test_expect_success 'a key in the PR body is found at its line' '
	make_shop &&
	printf "Adds payments.\nbot key: %s\n" "$KEY" >body.md &&
	expect_code 1 nsh verify shop --pr-body body.md >out &&
	grep -q "pr-body:2: \[stripe-key\]" out &&
	! grep -q "$KEY_TAIL" out
'

test_expect_success 'criteria: deterministic ones decided, a judged one needs review' '
	make_shop &&
	cat >criteria.json <<-EOF &&
	[{"id": "AC1", "text": "no new failures", "check": {"kind": "no_new_failures"}},
	 {"id": "AC2", "text": "no pluck left", "check": {"kind": "no_usages", "pattern": "_.pluck(", "paths": ["src/"]}},
	 {"id": "AC3", "text": "the notes read well"}]
	EOF
	expect_code 1 nsh verify shop --criteria criteria.json >out &&
	grep -q ": needs review$" out &&
	grep -Eq "^  ok   criterion:AC1 " out &&
	grep -Eq "^  ok   criterion:AC2 no usage of ._\.pluck\(. in 1 files searched" out &&
	grep -Eq "^  rev  criterion:AC3 no deterministic check: for the LLM judge" out &&
	cat >criteria.json <<-EOF &&
	[{"id": "AC1", "text": "no reduce left", "check": {"kind": "no_usages", "pattern": "reduce(", "paths": ["src/"]}}]
	EOF
	expect_code 1 nsh verify shop --criteria criteria.json >out &&
	grep -q ": FAIL$" out &&
	grep -Eq "^  FAIL criterion:AC1 1 usage of .reduce\(. in 1 file" out &&
	grep -q "src/total.js:1: \[usage-remains\]" out &&
	echo "[{\"text\": \"x\", \"check\": {\"kind\": \"magic\"}}]" >bad.json &&
	expect_code 1 nsh verify shop --criteria bad.json 2>err &&
	grep -q "unknown check kind .magic." err
'

test_expect_success 'a bad baseline is an error naming it' '
	make_shop &&
	expect_code 1 nsh verify shop --baseline no-such-branch 2>err &&
	grep -q "no revision .no-such-branch." err
'

test_expect_success 'verify.yml: a configured tool that is missing needs review, never passes' '
	make_shop &&
	mkdir -p shop/.nightshift &&
	printf "commands:\n  lint: [nsh-no-such-linter, .]\n" >shop/.nightshift/verify.yml &&
	expect_code 1 nsh verify shop >out &&
	grep -q ": needs review$" out &&
	grep -Eq "^  miss lint " out &&
	grep -q "nsh-no-such-linter.* is configured but its tool is not installed" out
'

test_done
