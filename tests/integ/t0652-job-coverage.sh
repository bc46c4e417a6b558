#!/bin/sh
# The coverage delta of a job (docs/verify.md, "In a job"): the repository's
# test script runs c8, for real, in the job's sandbox at the baseline and
# after the change; the pull request's Checks section shows the coverage
# before and after and the delta in points, a drop as a warning, and a
# change after which the tests write no coverage says so instead of
# showing the baseline's report again (it is still in the workspace:
# coverage/ is ignored, so the change step's clean leaves it there).
#
# c8 comes from the npm registry at a pinned version, installed at test time
# into build/npm-cache/coverage the way t0901 fills build/npm-cache/verify
# (a directory of its own: both scripts may run at once, and npm removes
# from a prefix what it was not asked to install). The fixtures carry that
# c8 with its dependencies under tools/node_modules, committed: inside the
# sandbox the workspace is all there is, and the job's own install (npm
# install of package.json) only fetches lodash, leaving tools/ alone. The
# test script starts c8 as `node tools/node_modules/c8/bin/c8.js`, so no
# bin link or exec bit on the workspace is needed. The jobs install lodash
# from the registry through the egress proxy, like t0650: without the
# registry everything here is skipped with the reason.
. "$(dirname "$0")/lib.sh"

CACHE=$NSH_TOP/build/npm-cache/coverage
PINNED=c8@10.1.3

sql() {
	nsh_sql "$1"
}

skip_all() {
	test_skip 'a job shows the coverage before and after its change' "$1"
	test_done
	exit $?
}

installed() {
	v=$(node -p "require('$CACHE/node_modules/${PINNED%@*}/package.json').version" \
		2>/dev/null) || return 1
	[ "$v" = "${PINNED#*@}" ]
}

command -v node >/dev/null 2>&1 || skip_all 'node is not installed'
command -v npm >/dev/null 2>&1 || skip_all 'npm is not installed'
npm ping >/dev/null 2>&1 || skip_all 'the npm registry cannot be reached'
if ! installed; then
	mkdir -p "$CACHE"
	(cd "$CACHE" && npm install --no-audit --no-fund --no-save --prefix . "$PINNED" \
		>install.log 2>&1)
	installed || skip_all "npm could not install $PINNED (see $CACHE/install.log)"
fi

# make_repo NAME MARKER TESTS: a calculator whose test script runs c8 over
# node --test; TESTS is "add" or "add sub" (the functions tested); MARKER
# picks the recipe's post step that changes it.
make_repo() {
	d=$PWD/src/$1
	mkdir -p "$d/test" "$d/tools" &&
	cp -R "$CACHE/node_modules" "$d/tools/node_modules" &&
	cat >"$d/package.json" <<-'EOF' &&
	{ "name": "calc", "version": "1.0.0",
	  "scripts": { "test": "node tools/node_modules/c8/bin/c8.js --reporter=json-summary --reporter=text node --test test/calc.test.js" },
	  "dependencies": { "lodash": "^3.10.1" } }
	EOF
	cat >"$d/lib.js" <<-'EOF' &&
	exports.add = (a, b) => {
	  return a + b;
	};
	exports.sub = (a, b) => {
	  const d = a - b;
	  return d;
	};
	EOF
	{
		echo "const test = require('node:test');"
		echo "const assert = require('node:assert');"
		echo "const { add, sub } = require('../lib');"
		for t in $3; do
			case $t in
			add) echo "test('add', () => { assert.strictEqual(add(1, 2), 3); });" ;;
			sub) echo "test('sub', () => { assert.strictEqual(sub(3, 1), 2); });" ;;
			esac
		done
	} >"$d/test/calc.test.js" &&
	printf '/node_modules/\ncoverage/\n' >"$d/.gitignore" &&
	: >"$d/$2" &&
	git -C "$d" init -q -b main &&
	git -C "$d" add -A &&
	git -C "$d" -c user.name=t -c user.email=t@t commit -q -m init &&
	nsh forge import acme "$d" >/dev/null
}

# The recipe: lodash to 4, and per repository (by its marker file) a post
# step that adds the test of sub, removes it, or runs the tests without c8.
recipe() {
	mkdir -p "$NIGHTSHIFT_HOME/recipes" &&
	cat >"$NIGHTSHIFT_HOME/recipes/cov-bump.yml" <<-'EOF'
	id: cov-bump
	title: Move lodash to 4
	applies:
	  dependency: lodash
	  range: "<4.0.0"
	manifest:
	  - bump: lodash
	    to: ^4.17.21
	post:
	  - id: add-test
	    description: test sub too
	    when: .cov-add
	    run: [sh, -c, "echo \"test('sub', () => { assert.strictEqual(sub(3, 1), 2); });\" >>test/calc.test.js"]
	  - id: drop-test
	    description: remove the test of sub
	    when: .cov-drop
	    run: [sh, -c, "grep -v \"test('sub'\" test/calc.test.js >t.js && mv t.js test/calc.test.js"]
	  - id: no-c8
	    description: run the tests without c8
	    when: .cov-off
	    run: [node, -e, "const fs = require('fs'); const p = JSON.parse(fs.readFileSync('package.json')); p.scripts.test = 'node --test test/calc.test.js'; fs.writeFileSync('package.json', JSON.stringify(p, null, 2) + '\\n');"]
	EOF
}

test_expect_success 'a job shows the coverage before and after its change, a drop as a warning' '
	make_repo cov-up .cov-add add &&
	make_repo cov-down .cov-drop "add sub" &&
	make_repo cov-off .cov-off "add sub" &&
	recipe &&
	nsh run "move lodash" --recipe cov-bump --repo acme/cov-up --repo acme/cov-down \
		--repo acme/cov-off >out 2>&1;
	cat out &&
	test "$(sql "SELECT state FROM jobs WHERE repo = '"'"'acme/cov-up'"'"'")" = pr_open &&
	test "$(sql "SELECT state FROM jobs WHERE repo = '"'"'acme/cov-off'"'"'")" = pr_open &&
	test "$(sql "SELECT state FROM jobs WHERE repo = '"'"'acme/cov-down'"'"'")" = needs_human_review &&
	# the figures of both runs, from the summaries c8 wrote in the sandbox
	nsh pr show acme/cov-up#1 >up &&
	grep -F -q "[x] **Coverage**: passed — 71.43% -\\> 100.00% (+28.57 pp) from coverage/coverage-summary.json" up &&
	grep -F -q "Coverage delta: +28.57 percentage points." up &&
	# the test removed: the drop is a warning (and the removal an integrity finding)
	nsh pr show acme/cov-down#1 >down &&
	grep -F -q "[x] **Coverage**: passed with warnings — 100.00% -\\> 71.43% (-28.57 pp) from coverage/coverage-summary.json" down &&
	grep -F -q "⚠ \`coverage/coverage-summary.json\` (coverage-down) coverage went down by 28.57 percentage points" down &&
	grep -F -q "[ ] **Test integrity**: failed" down &&
	# no coverage after the change: the summary of the baseline is not read again
	nsh pr show acme/cov-off#1 >off &&
	grep -F -q -e "- **Coverage**: not applicable — no coverage produced by the test script" off &&
	! grep -q "Coverage delta" off &&
	# the baseline figure is kept with the step (what a restart reads back)
	sql "SELECT result FROM steps WHERE name = '"'"'baseline'"'"'" >base &&
	test "$(grep -c "\"coverage\":{\"percent\":100" base)" = 2 &&
	grep -q "\"coverage\":{\"percent\":71.4" base
'

test_done
