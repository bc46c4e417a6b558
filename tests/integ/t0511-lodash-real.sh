#!/bin/sh
# The lodash-3-to-4 recipe on three published lodash 3 packages (the open
# cases of the lodash research): each is fetched with npm pack into a
# temporary directory (nothing third-party is kept), installed, tested on
# lodash 3 (the baseline), migrated by the recipe as the orchestrator does
# (apply, post steps, npm install), and tested again. A migration is right
# when the same tests fail as on lodash 3, by name; the tests first show that
# lodash 4 without the recipe breaks the two real cases. The control case
# changes nothing but the version.
#
# Everything here needs the npm registry; when it cannot be reached the
# checks are reported as skipped, never as passed.
. "$(dirname "$0")/lib.sh"

W=$T_TRASH/work
mkdir -p "$W"

if ! type test_skip >/dev/null 2>&1; then
	t_skip=0
	# test_skip TITLE REASON: count a check that could not run, not as passed.
	test_skip() {
		t_count=$((t_count + 1))
		t_skip=$((t_skip + 1))
		echo "ok $t_count # skip $1 ($2)"
	}
fi

# json FILE EXPR: print a value of a JSON file (EXPR in terms of j).
json() {
	node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		 const v = ('"$2"'); console.log(v === undefined ? "" : v);' "$1"
}

npmq() {
	npm --no-audit --no-fund --ignore-scripts "$@"
}

# fetch NAME VERSION: the published package, unpacked into $W/NAME, a git
# repository so that its diff can be read.
fetch() {
	(cd "$W" && npm pack --fetch-retries=1 "$1@$2" >"$1.pack.log" 2>&1 &&
	 mkdir "$1" && tar xzf "$1-$2.tgz" -C "$1" --strip-components=1 && rm "$1-$2.tgz" &&
	 cd "$1" && git init -q && git add -A &&
	 git -c user.name=t -c user.email=t@example.invalid commit -qm published)
}

# tests DIR ARGS...: run mocha in DIR with the TAP reporter; DIR.failing gets
# the failing test names (sorted), DIR.passed the number that passed.
tests() {
	d=$1
	shift
	(cd "$d" && ./node_modules/.bin/mocha -R tap "$@" >"$d.tap" 2>&1)
	sed -n "s/^not ok [0-9]* //p" "$d.tap" | LC_ALL=C sort >"$d.failing"
	p=$(sed -n "s/^# pass //p" "$d.tap")
	echo "${p:-0}" >"$d.passed"
}

# migrate DIR: apply the recipe with its post steps, then npm install (the
# orchestrator's reinstall for a repository that came without a lock file).
migrate() {
	(cd "$1" && nsh recipe apply lodash-3-to-4 . --run-post --json >"$1.apply.json" &&
	 npmq install --prefer-offline >"$1.reinstall.log" 2>&1 &&
	 test "$(json node_modules/lodash/package.json j.version)" = 4.18.1)
}

npm_ok=yes
if fetch copy-webpack-plugin 0.3.3 && fetch sass-graph 2.0.1 && fetch jsonapi-serializer 2.0.4; then
	# the control case's build tools (grunt and its plugins) are not needed for its tests
	(cd "$W/jsonapi-serializer" &&
	 node -e 'const fs = require("fs"), p = JSON.parse(fs.readFileSync("package.json"));
		  p.devDependencies = { mocha: p.devDependencies.mocha, chai: p.devDependencies.chai };
		  fs.writeFileSync("package.json", JSON.stringify(p, null, 2) + "\n");' &&
	 git -c user.name=t -c user.email=t@example.invalid commit -qam "tests only") || npm_ok=no
else
	npm_ok=no
fi
if [ $npm_ok = no ]; then
	echo "# the npm registry cannot be reached ($(npm config get registry)); skipping"
	cat "$W"/*.pack.log 2>/dev/null | tail -n 5 | sed 's/^/#   /'
fi

CWP=$W/copy-webpack-plugin
SG=$W/sass-graph
JS=$W/jsonapi-serializer

if [ $npm_ok = yes ]; then
	test_expect_success 'the three packages install on lodash 3 and have a baseline' '
		for d in "$CWP" "$SG" "$JS"; do
			(cd "$d" && npmq install >"$d.install.log" 2>&1) || { tail "$d.install.log"; exit 1; }
			test "$(json "$d/node_modules/lodash/package.json" j.version)" = 3.10.1 || exit 1
			# the lock file is part of the repository from now on
			echo node_modules/ >>"$d/.git/info/exclude" &&
			git -C "$d" add package-lock.json &&
			git -C "$d" -c user.name=t -c user.email=t@example.invalid commit -qm lock || exit 1
		done &&
		tests "$CWP" && tests "$SG" ./test/test*.js && tests "$JS" &&
		test "$(cat "$CWP.passed")" -gt 0 && test "$(cat "$SG.passed")" -gt 0 &&
		test "$(cat "$JS.passed")" -gt 0 &&
		for d in "$CWP" "$SG" "$JS"; do
			cp "$d.failing" "$d.baseline" && cp "$d.passed" "$d.baseline-passed" || exit 1
		done &&
		echo "copy-webpack-plugin: $(cat "$CWP.passed") pass, $(wc -l <"$CWP.baseline") fail" &&
		echo "sass-graph: $(cat "$SG.passed") pass, $(wc -l <"$SG.baseline") fail"
	'
	test_expect_success 'lodash 4 without the recipe breaks both real cases' '
		for c in "$CWP" "$SG"; do
			rm -rf "$c.raw" && cp -a "$c" "$c.raw" &&
			(cd "$c.raw" && npmq install --no-save --prefer-offline lodash@4.18.1 >/dev/null 2>&1) &&
			test "$(json "$c.raw/node_modules/lodash/package.json" j.version)" = 4.18.1 || exit 1
		done &&
		tests "$CWP.raw" && tests "$SG.raw" ./test/test*.js &&
		test "$(cat "$CWP.raw.passed")" -lt "$(cat "$CWP.passed")" &&
		test "$(cat "$SG.raw.passed")" -lt "$(cat "$SG.passed")" &&
		rm -rf "$CWP.raw" "$SG.raw"
	'
	test_expect_success 'copy-webpack-plugin: migrated, the same two tests fail as on lodash 3' '
		migrate "$CWP" &&
		tests "$CWP" &&
		cmp "$CWP.failing" "$CWP.baseline" &&
		cmp "$CWP.passed" "$CWP.baseline-passed" &&
		test "$(wc -l <"$CWP.failing")" -eq 2 &&
		! grep -q "_\.contains" "$CWP/index.js"
	'
	test_expect_success 'sass-graph: migrated, every test passes as on lodash 3' '
		migrate "$SG" &&
		tests "$SG" ./test/test*.js &&
		cmp "$SG.failing" "$SG.baseline" &&
		cmp "$SG.passed" "$SG.baseline-passed" &&
		test ! -s "$SG.failing" &&
		! grep -q "_\.contains" "$SG/sass-graph.js" &&
		test "$(json "$SG.apply.json" "j.changes.filter(c => c.rule === \"chain-foreach-value\").length")" = 1
	'
	test_expect_success 'jsonapi-serializer (control): only the version changes, and every test passes' '
		migrate "$JS" &&
		tests "$JS" &&
		cmp "$JS.failing" "$JS.baseline" &&
		cmp "$JS.passed" "$JS.baseline-passed" &&
		test ! -s "$JS.failing" &&
		test "$(json "$JS.apply.json" j.summary.changes)" = 0 &&
		test "$(git -C "$JS" diff --name-only | LC_ALL=C sort | tr "\n" " ")" = \
			"package-lock.json package.json " &&
		git -C "$JS" diff package.json | grep -q "^+.*\"lodash\": \"^4.18.1\""
	'
else
	for t in "the three packages install on lodash 3 and have a baseline" \
		"lodash 4 without the recipe breaks both real cases" \
		"copy-webpack-plugin: migrated, the same two tests fail as on lodash 3" \
		"sass-graph: migrated, every test passes as on lodash 3" \
		"jsonapi-serializer (control): only the version changes, and every test passes"; do
		test_skip "$t" "npm registry unreachable"
	done
fi

[ "${t_skip:-0}" -eq 0 ] || echo "# $t_skip skipped"
test_done
