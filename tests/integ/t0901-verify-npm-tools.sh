#!/bin/sh
# nightshift verify with the JavaScript tools that come from npm: jest, c8,
# nyc, mocha, yarn (classic) and pnpm, installed at test time at pinned versions
# into build/npm-cache/verify (skipped, with the reason, when the registry
# cannot be reached and the cache is not there). The parsers read their
# real output (test_verify_tools run with the cache on its PATH); verify
# runs jest and c8 projects against a baseline end to end (failing tests
# at file:line, coverage delta in percentage points); a yarn.lock or a
# pnpm-lock.yaml project runs its tests through yarn or pnpm, and is
# reported as missing, not run with npm, when they are not installed; a
# flaky test is re-run alone, by name, with jest, node --test and mocha
# (through npm, yarn and pnpm), pytest and go test, and the whole command
# runs again only where the runner cannot name tests.
. "$(dirname "$0")/lib.sh"

CACHE=$NSH_TOP/build/npm-cache/verify
BIN=$CACHE/node_modules/.bin
PINNED='jest@30.5.2 c8@10.1.3 nyc@17.1.0 yarn@1.22.22 pnpm@9.15.9 mocha@10.8.2'
SYS_PATH=$PATH
TAB=$(printf '\t')
UNIT=$(dirname "$NSH_BIN")/tests/unit/test_verify_tools
# pnpm asks the registry for its own updates otherwise
npm_config_update_notifier=false
export npm_config_update_notifier

skip_all() {
	test_skip 'verify with jest, c8, nyc, mocha, yarn and pnpm' "$1"
	test_done
	exit $?
}

# installed: every pinned package is in the cache at its version.
installed() {
	for p in $PINNED; do
		v=$(node -p "require('$CACHE/node_modules/${p%@*}/package.json').version" \
			2>/dev/null) || return 1
		[ "$v" = "${p#*@}" ] || return 1
	done
}

command -v node >/dev/null 2>&1 || skip_all 'node is not installed'
command -v npm >/dev/null 2>&1 || skip_all 'npm is not installed'
if ! installed; then
	npm ping >/dev/null 2>&1 || skip_all 'the npm registry cannot be reached'
	mkdir -p "$CACHE"
	# shellcheck disable=SC2086 # the pinned list is words
	(cd "$CACHE" && npm install --no-audit --no-fund --no-save --prefix . $PINNED \
		>install.log 2>&1)
	installed || skip_all "npm could not install $PINNED (see $CACHE/install.log)"
fi

# json FILE EXPR: print a value of a JSON file (EXPR in terms of j).
json() {
	node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		 const v = ('"$2"'); console.log(v === undefined ? "" : v);' "$1"
}

# check FILE ID EXPR: a value of the check ID of a verify --json result (EXPR in terms of c).
check() {
	json "$1" "(c => $3)(j.checks.find(c => c.id === \"$2\"))"
}

commit() {
	git add -A &&
	git -c user.name=t -c user.email=t@t commit -qm "$1"
}

# runs.js: a test counts its runs in $COUNTS/NAME and gets the earlier ones.
write_count_js() {
	cat >count.js <<-'EOF'
	const fs = require('fs');
	module.exports = (name) => {
	  const f = `${process.env.COUNTS}/${name}`;
	  let n = 0;
	  try { n = Number(fs.readFileSync(f, 'utf8')); } catch (e) {}
	  fs.writeFileSync(f, String(n + 1));
	  return n;
	};
	EOF
}

# runs NAME: how many times the test NAME ran.
runs() {
	cat "$COUNTS/$1" 2>/dev/null || echo 0
}

test_expect_success 'the parsers read real jest, c8 and nyc output exactly' '
	NSH_VERIFY_NPM_BIN=$BIN "$UNIT" >out 2>err;
	test $? -eq 0 &&
	grep -q "^npm packages from $BIN$" err &&
	! grep -Eq "^  (jest|c8|nyc): toolchain not installed" err &&
	grep -q "^  c8: summary 5/7 = 71.43%, lcov 5/7$" err &&
	grep -q "^  nyc: summary 3/5 = 60.00%, lcov 3/5$" err &&
	grep -Eq "^[0-9]+ passed, 0 failed$" out
'

# A jest project: the change breaks sub, adds an untested mul; "sometimes"
# fails on every second run.
make_jest() {
	mkdir -p calc && cd calc &&
	git init -q &&
	cat >package.json <<-'EOF' &&
	{"name": "calc", "version": "1.0.0", "scripts": {"test": "jest --coverage --coverageReporters=json-summary"}}
	EOF
	printf "coverage/\n" >.gitignore &&
	write_count_js &&
	cat >sum.js <<-'EOF' &&
	exports.add = (a, b) => a + b;
	exports.sub = (a, b) => {
	  const d = a - b;
	  return d;
	};
	EOF
	cat >sum.test.js <<-'EOF' &&
	const { add, sub } = require('./sum');
	const runs = require('./count');
	describe('math', () => {
	  test('adds', () => {
	    runs('adds');
	    expect(add(1, 2)).toBe(3);
	  });
	  test('subtracts', () => {
	    runs('subtracts');
	    expect(sub(3, 1)).toBe(2);
	  });
	  test('sometimes', () => {
	    expect(runs('sometimes') % 2).toBe(0);
	  });
	});
	EOF
	commit base
}

test_expect_success 'jest against a baseline: broken at file:line, flaky re-run alone, coverage delta' '
	export PATH="$BIN:$SYS_PATH" COUNTS="$PWD/counts" &&
	mkdir counts &&
	make_jest &&
	base=$(git rev-parse HEAD) &&
	cat >sum.js <<-EOF &&
	exports.add = (a, b) => a + b;
	exports.sub = (a, b) => {
	  const d = a + b;
	  return d;
	};
	exports.mul = (a, b) => {
	  const p = a * b;
	  return p;
	};
	EOF
	commit change &&
	nsh verify . --baseline "$base" --json >../out.json; test $? -eq 1 &&
	cd .. &&
	test "$(json out.json j.verdict)" = fail &&
	test "$(json out.json "j.plan.commands[0].command")" = \
		"npm run test -- --json --testLocationInResults --outputFile=.git/nightshift-verify/jest.json" &&
	test "$(json out.json "j.tests.passed + \" \" + j.tests.failed")" = "1 2" &&
	test "$(json out.json "j.tests.diff.newly_failing.join()")" = "math sometimes,math subtracts" &&
	test "$(json out.json "j.tests.broken.join()")" = "math subtracts" &&
	test "$(json out.json "j.tests.flaky.join()")" = "math sometimes" &&
	test "$(check out.json tests "c.status")" = fail &&
	test "$(check out.json tests "c.findings.map(f => [f.rule, f.file, f.line, f.message].join(\":\")).join()")" = \
		"newly-failing:sum.test.js:8:math subtracts,flaky:sum.test.js:12:math sometimes (failed, then passed when run again: flaky)" &&
	test "$(check out.json tests "c.findings[0].excerpt")" = \
		"Error: expect(received).toBe(expected) // Object.is equality" &&
	test "$(json out.json "j.tests.reruns.join()")" = \
		"npm run test -- --json --testLocationInResults --outputFile=.git/nightshift-verify/jest.json -t '\''^(?:math subtracts|math sometimes)$'\''" &&
	test "$(runs adds)" = 2 &&
	test "$(runs subtracts)" = 3 &&
	test "$(runs sometimes)" = 3 &&
	test "$(json out.json "j.coverage.before.covered + \"/\" + j.coverage.before.total")" = 11/11 &&
	test "$(json out.json "j.coverage.after.covered + \"/\" + j.coverage.after.total")" = 12/14 &&
	test "$(json out.json "j.coverage.delta_pp.toFixed(2)")" = -14.29 &&
	test "$(check out.json coverage "c.status + \" \" + c.evidence")" = \
		"warn 100.00% -> 85.71% (-14.29 pp) from coverage/coverage-summary.json" &&
	test "$(check out.json coverage "c.findings[0].rule")" = coverage-down
'

# make_c8 REPORTERS: a node --test project under c8; the change adds a
# test for sub and an untested mul.
make_c8() {
	mkdir -p lib/test && cd lib &&
	git init -q &&
	printf "{\"name\": \"lib\", \"version\": \"1.0.0\", \"scripts\": {\"test\": \"c8 %s node --test\"}}\n" \
		"$1" >package.json &&
	printf "coverage/\n" >.gitignore &&
	cat >lib.js <<-'EOF' &&
	exports.add = (a, b) => {
	  return a + b;
	};
	exports.sub = (a, b) => {
	  const d = a - b;
	  return d;
	};
	EOF
	cat >test/lib.test.js <<-'EOF' &&
	const test = require('node:test');
	const assert = require('node:assert');
	test('add', () => { assert.strictEqual(require('../lib').add(1, 2), 3); });
	EOF
	commit base &&
	base=$(git rev-parse HEAD) &&
	cat >>lib.js <<-'EOF' &&
	exports.mul = (a, b) => {
	  const p = a * b;
	  return p;
	};
	EOF
	echo "test('sub', () => { assert.strictEqual(require('../lib').sub(3, 1), 2); });" \
		>>test/lib.test.js &&
	commit change
}

test_expect_success 'c8 against a baseline: coverage-summary.json, then lcov, the delta in points' '
	export PATH="$BIN:$SYS_PATH" &&
	(make_c8 "--reporter=json-summary --reporter=lcov" &&
	 nsh verify . --baseline "$base" --json >../summary.json) &&
	test "$(json summary.json j.verdict)" = pass &&
	test "$(json summary.json "j.tests.passed + \" \" + j.tests.failed")" = "2 0" &&
	test "$(json summary.json j.coverage.after.source)" = coverage/coverage-summary.json &&
	test "$(json summary.json "j.coverage.before.covered + \"/\" + j.coverage.before.total")" = 5/7 &&
	test "$(json summary.json "j.coverage.after.covered + \"/\" + j.coverage.after.total")" = 9/11 &&
	test "$(json summary.json "j.coverage.delta_pp.toFixed(2)")" = 10.39 &&
	test "$(check summary.json coverage "c.status + \" \" + c.evidence")" = \
		"pass 71.43% -> 81.82% (+10.39 pp) from coverage/coverage-summary.json" &&
	rm -rf lib &&
	(make_c8 --reporter=lcovonly &&
	 nsh verify . --baseline "$base" --json >../lcov.json) &&
	test "$(json lcov.json j.coverage.after.source)" = coverage/lcov.info &&
	test "$(check lcov.json coverage "c.evidence")" = \
		"71.43% -> 81.82% (+10.39 pp) from coverage/lcov.info"
'

# make_node_pm LOCKFILE: a package with two node --test tests, one of them
# flaky (failing on its first run), and LOCKFILE copied in ("none": none).
make_node_pm() {
	mkdir -p app/test && cd app &&
	git init -q &&
	printf "{\"name\": \"app\", \"version\": \"1.0.0\", \"license\": \"MIT\", \"scripts\": {\"test\": \"node --test\"}}\n" \
		>package.json &&
	{ [ "$1" = none ] || cp "$1" .; } &&
	write_count_js &&
	cat >test/app.test.js <<-'EOF' &&
	const { test, describe, it } = require('node:test');
	const assert = require('node:assert');
	const runs = require('../count');
	test('steady', () => {
	  runs('steady');
	});
	describe('group', () => {
	  it('sometimes', () => {
	    assert.strictEqual(runs('sometimes') % 2, 1);
	  });
	});
	EOF
	commit base
}

test_expect_success 'yarn.lock and pnpm-lock.yaml: the tests run through yarn and pnpm' '
	export PATH="$BIN:$SYS_PATH" COUNTS="$PWD/counts" &&
	mkdir counts &&
	printf "# yarn lockfile v1\n\n\n" >yarn.lock &&
	printf "lockfileVersion: '\''9.0'\''\n" >pnpm-lock.yaml &&
	(make_node_pm ../yarn.lock && nsh verify . --json >../y.json) &&
	test "$(json y.json "j.steps[0].command + \" \" + j.steps[0].outcome")" = "yarn run test ran" &&
	test "$(json y.json "j.tests.passed + \" \" + j.tests.failed")" = "1 1" &&
	test "$(json y.json "j.tests.flaky.join()")" = "group > sometimes" &&
	test "$(json y.json "j.tests.reruns.join()")" = \
		"yarn run test '\''--test-name-pattern=^sometimes$'\'' '\''--test-name-pattern=^group sometimes$'\''" &&
	test "$(runs steady)" = 1 && test "$(runs sometimes)" = 2 &&
	rm -rf app counts/* &&
	(make_node_pm ../pnpm-lock.yaml && nsh verify . --json >../p.json) &&
	test "$(json p.json "j.steps[0].command + \" \" + j.steps[0].outcome")" = "pnpm run test ran" &&
	test "$(json p.json "j.tests.passed + \" \" + j.tests.failed")" = "1 1" &&
	test "$(check p.json tests "c.status")" = warn &&
	test "$(json p.json "j.tests.flaky.join()")" = "group > sometimes" &&
	test "$(json p.json "j.tests.reruns.join()")" = \
		"pnpm run test '\''--test-name-pattern=^sometimes$'\'' '\''--test-name-pattern=^group sometimes$'\''" &&
	test "$(runs steady)" = 1 && test "$(runs sometimes)" = 2
'

if PATH=$SYS_PATH command -v yarn >/dev/null 2>&1 || PATH=$SYS_PATH command -v pnpm >/dev/null 2>&1; then
	test_skip 'without yarn or pnpm the tests are missing, not run with npm' \
		'yarn or pnpm is installed on this machine'
else
	test_expect_success 'without yarn or pnpm the tests are missing, not run with npm' '
		export COUNTS="$PWD/counts" &&
		mkdir counts &&
		printf "# yarn lockfile v1\n\n\n" >yarn.lock &&
		printf "lockfileVersion: '\''9.0'\''\n" >pnpm-lock.yaml &&
		(make_node_pm ../yarn.lock && nsh verify . --json >../y.json; test $? -eq 1) &&
		test "$(json y.json j.verdict)" = review &&
		test "$(json y.json "j.steps[0].command + \" \" + j.steps[0].outcome")" = "yarn run test missing" &&
		test "$(check y.json tests "c.status")" = missing &&
		test "$(check y.json tests "c.findings[0].message")" = \
			"'\''yarn test'\'' is configured but its tool is not installed" &&
		test "$(json y.json j.tests.passed)" = 0 &&
		test "$(runs steady)" = 0 &&
		rm -rf app &&
		(make_node_pm ../pnpm-lock.yaml && nsh verify . --json >../p.json; test $? -eq 1) &&
		test "$(json p.json "j.steps[0].command + \" \" + j.steps[0].outcome")" = "pnpm run test missing" &&
		test "$(check p.json tests "c.status")" = missing &&
		test "$(runs steady)" = 0
	'
fi

test_expect_success 'yarn and jest: the flaky test is re-run alone through yarn' '
	export PATH="$BIN:$SYS_PATH" COUNTS="$PWD/counts" &&
	mkdir counts &&
	(make_jest && printf "# yarn lockfile v1\n\n\n" >yarn.lock && commit yarn &&
	 nsh verify . --json >../out.json) &&
	test "$(json out.json "j.steps[0].command")" = \
		"yarn run test --json --testLocationInResults --outputFile=.git/nightshift-verify/jest.json" &&
	test "$(json out.json "j.tests.flaky.join()")" = "" &&
	test "$(json out.json "j.tests.passed + \" \" + j.tests.failed")" = "3 0" &&
	rm -f counts/* &&
	(cd calc && echo "test(\"first run fails\", () => expect(require(\"./count\")(\"first\")).toBe(1));" \
		>first.test.js && commit first &&
	 nsh verify . --json >../out.json; test $? -eq 0) &&
	test "$(json out.json "j.tests.flaky.join()")" = "first run fails" &&
	test "$(json out.json "j.tests.reruns.join()")" = \
		"yarn run test --json --testLocationInResults --outputFile=.git/nightshift-verify/jest.json -t '\''^(?:first run fails)$'\''" &&
	test "$(runs adds)" = 1 && test "$(runs first)" = 2
'

test_expect_success 'pnpm and mocha: the flaky test is re-run alone by --grep, parentheses and all' '
	export PATH="$BIN:$SYS_PATH" COUNTS="$PWD/counts" &&
	mkdir -p counts mo/test &&
	(cd mo && git init -q && write_count_js &&
	 printf "{\"name\": \"mo\", \"version\": \"1.0.0\", \"scripts\": {\"test\": \"mocha\"}}\n" \
		>package.json &&
	 printf "lockfileVersion: '\''9.0'\''\n" >pnpm-lock.yaml &&
	 cat >test/a.spec.js <<-EOF &&
	const assert = require("assert");
	const runs = require("../count");
	describe("billing (v2)", function () {
	  it("steady", function () { runs("steady"); });
	  it("sometimes", function () { assert.strictEqual(runs("sometimes") % 2, 1); });
	});
	EOF
	 commit base && nsh verify . --json >../out.json) &&
	test "$(json out.json "j.steps[0].command")" = \
		"pnpm run test --reporter json --reporter-option output=.git/nightshift-verify/mocha.json" &&
	test "$(json out.json "j.tests.passed + \" \" + j.tests.failed")" = "1 1" &&
	test "$(json out.json "j.tests.flaky.join()")" = "billing (v2) sometimes" &&
	test "$(check out.json tests "c.findings[0].file + \":\" + c.findings[0].line")" = test/a.spec.js:5 &&
	test "$(json out.json "j.tests.reruns.join()")" = \
		"pnpm run test --reporter json --reporter-option output=.git/nightshift-verify/mocha.json --grep '\''^(?:billing [(]v2[)] sometimes)$'\''" &&
	test "$(runs steady)" = 1 && test "$(runs sometimes)" = 2
'

if command -v pytest-3 >/dev/null 2>&1 || python3 -c 'import pytest' 2>/dev/null; then
test_expect_success 'pytest: the flaky test is re-run alone by its node id' '
	export COUNTS="$PWD/counts" &&
	mkdir counts py &&
	(cd py && git init -q && printf "[pytest]\n" >pytest.ini && mkdir tests &&
	 cat >tests/test_calc.py <<-EOF &&
	import os


	def runs(name):
	    path = os.path.join(os.environ["COUNTS"], name)
	    n = int(open(path).read()) if os.path.exists(path) else 0
	    with open(path, "w") as f:
	        f.write(str(n + 1))
	    return n


	def test_adds():
	    runs("adds")


	class TestGroup:
	    def test_sometimes(self):
	        assert runs("sometimes") % 2 == 1
	EOF
	 commit base && nsh verify . --json >../py.json) &&
	test "$(json py.json "j.tests.passed + \" \" + j.tests.failed")" = "1 1" &&
	test "$(json py.json "j.tests.flaky.join()")" = tests.test_calc.TestGroup.test_sometimes &&
	test "$(check py.json tests "c.findings[0].file + \":\" + c.findings[0].line")" = tests/test_calc.py:18 &&
	json py.json "j.tests.reruns.join()" >rerun &&
	grep -Eq "^(python3 -m pytest|pytest-3) .* tests/test_calc.py::TestGroup::test_sometimes$" rerun &&
	test "$(runs adds)" = 1 && test "$(runs sometimes)" = 2
'
else
	test_skip 'pytest: the flaky test is re-run alone by its node id' 'pytest is not installed'
fi

if command -v go >/dev/null 2>&1; then
test_expect_success 'go test: the flaky subtest is re-run alone by -run' '
	export COUNTS="$PWD/counts" &&
	mkdir counts go &&
	(cd go && git init -q && printf "module example.com/shop\n\ngo 1.19\n" >go.mod &&
	 mkdir calc && cat >calc/calc_test.go <<-EOF &&
	package calc

	import (
	${TAB}"os"
	${TAB}"path/filepath"
	${TAB}"strconv"
	${TAB}"testing"
	)

	func runs(name string) int {
	${TAB}p := filepath.Join(os.Getenv("COUNTS"), name)
	${TAB}b, _ := os.ReadFile(p)
	${TAB}n, _ := strconv.Atoi(string(b))
	${TAB}os.WriteFile(p, []byte(strconv.Itoa(n+1)), 0o644)
	${TAB}return n
	}

	func TestAdd(t *testing.T) { runs("add") }

	func TestGroup(t *testing.T) {
	${TAB}t.Run("steady one", func(t *testing.T) { runs("steady") })
	${TAB}t.Run("some times", func(t *testing.T) {
	${TAB}${TAB}if runs("sometimes")%2 == 0 {
	${TAB}${TAB}${TAB}t.Fatal("even run")
	${TAB}${TAB}}
	${TAB}})
	}
	EOF
	 commit base && nsh verify . --json >../go.json) &&
	test "$(json go.json "j.tests.flaky.join()")" = "example.com/shop/calc TestGroup/some_times" &&
	test "$(check go.json tests "c.findings[0].file + \":\" + c.findings[0].line")" = calc/calc_test.go:24 &&
	test "$(json go.json "j.tests.reruns.join()")" = \
		"go test -json -coverprofile=.git/nightshift-verify/cover.out -run '\''^TestGroup$/^some_times$'\'' example.com/shop/calc" &&
	test "$(runs add)" = 1 && test "$(runs steady)" = 1 && test "$(runs sometimes)" = 2
'
else
	test_skip 'go test: the flaky subtest is re-run alone by -run' 'go is not installed'
fi

test_expect_success 'a command that cannot name its tests runs again whole' '
	export COUNTS="$PWD/counts" &&
	mkdir counts &&
	(make_node_pm none && mkdir .nightshift &&
	 printf "commands:\n  test: node --test\n" >.nightshift/verify.yml && commit yml &&
	 nsh verify . --json >../out.json) &&
	test "$(json out.json "j.plan.commands[0].rerun_selects")" = "" &&
	test "$(json out.json "j.tests.flaky.join()")" = "group > sometimes" &&
	test "$(json out.json "j.tests.reruns.join()")" = "sh -c '\''node --test'\''" &&
	test "$(runs steady)" = 2 && test "$(runs sometimes)" = 2
'

test_done
