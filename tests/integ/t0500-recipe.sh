#!/bin/sh
# nightshift recipe list|show|apply: the shipped recipes, a recipe in the
# home overriding one, dry runs, choices, JSON, the PR body, post steps,
# idempotence and the errors (exit 1 for unknown names, 2 for usage).
. "$(dirname "$0")/lib.sh"

NIGHTSHIFT_RECIPES=$NSH_TOP/recipes
export NIGHTSHIFT_RECIPES

# A small lodash 3 service and a recipe for it.
make_fixture() {
	mkdir -p svc/src svc/node_modules/lodash &&
	cat >svc/package.json <<-'EOF' &&
	{
	  "name": "svc",
	  "dependencies": {
	    "express": "^4.0.0",
	    "lodash": "^3.10.1"
	  }
	}
	EOF
	cat >svc/src/a.js <<-'EOF' &&
	var _ = require('lodash');
	var names = _.pluck(users, 'name');
	if (_.contains(names, 'bob')) { log("_.contains(x)"); }
	var g = _.find(users, fn, 2);
	EOF
	echo "_.pluck(a, 'b');" >svc/node_modules/lodash/x.js &&
	echo "{}" >svc/package-lock.json &&
	cat >mini.yml <<-'EOF'
	id: mini
	title: Mini lodash upgrade
	applies: {dependency: lodash, range: "3.x"}
	manifest:
	  - {bump: lodash, to: 4.18.1}
	rules:
	  - id: pluck
	    languages: [javascript]
	    match: "_.pluck("
	    rewrite: "_.map("
	    class: removed
	  - id: contains
	    languages: [javascript]
	    match: "_.contains("
	    rewrite: "_.includes("
	  - id: contains-native
	    languages: [javascript]
	    match: "_.contains(:[a:arg], :[x:arg])"
	    rewrite: ":[a].includes(:[x])"
	  - id: find-third
	    languages: [javascript]
	    match: "_.find(:[c:arg], :[f:arg], :[n:arg])"
	    note: the third argument is fromIndex in lodash 4
	choices:
	  - id: style
	    description: how to replace _.contains
	    default: lodash
	    alternatives:
	      - {id: lodash, description: use _.includes, enable: [contains]}
	      - {id: native, description: use Array.prototype.includes, enable: [contains-native],
	         assumption: the collection is an array}
	post:
	  - {id: lockfile, run: [sh, -c, "echo refreshed >post.txt"], when: package-lock.json}
	pr: {title: Upgrade lodash, body: Moves the service to lodash 4.}
	EOF
}

test_expect_success 'list shows the shipped recipes' '
	nsh recipe list >out &&
	grep -Eq "^ID +ORIGIN +APPLIES TO +TITLE" out &&
	grep -Eq "^lodash-4-security +shipped +lodash >=4.0.0 <4.18.1 +Update lodash" out &&
	grep -Eq "^example-node-buffer +shipped +any repository" out &&
	nsh recipe list --json >out &&
	grep -q "\"id\": \"lodash-4-security\"" out &&
	grep -q "\"error\": null" out
'

test_expect_success 'a recipe in the home overrides the shipped one; a broken one is reported' '
	mkdir -p "$NIGHTSHIFT_HOME/recipes" &&
	printf "id: lodash-4-security\ntitle: Our own\n" >"$NIGHTSHIFT_HOME/recipes/lodash-4-security.yml" &&
	printf "id: bad\ntitle: x\nrulez: 1\n" >"$NIGHTSHIFT_HOME/recipes/bad.yml" &&
	nsh recipe list >out 2>err &&
	grep -Eq "^lodash-4-security +home .*Our own" out &&
	grep -q "recipe .bad. is broken: .*bad.yml:3:1: unknown key .rulez." err &&
	expect_code 1 nsh recipe show bad 2>err &&
	grep -q "bad.yml:3:1" err
'

test_expect_success 'show prints rules, choices and post steps; --json has everything' '
	make_fixture &&
	nsh recipe show example-node-buffer >out &&
	grep -q "^rules (5, in order):" out &&
	grep -q "alloc-style=unsafe: Buffer.allocUnsafe" out &&
	nsh recipe show ./mini.yml --json >out &&
	grep -q "\"match\": \"_.pluck(\"" out &&
	grep -q "\"default\": \"lodash\"" out &&
	grep -q "\"when\": \"package-lock.json\"" out
'

test_expect_success 'apply --dry-run reports changes with file:line and writes nothing' '
	make_fixture &&
	cp svc/src/a.js before.js &&
	nsh recipe apply ./mini.yml svc --dry-run >out &&
	grep -q "(dry run: nothing written)" out &&
	grep -Eq "src/a.js:2 +pluck +_.pluck\\( +-> +_.map\\(" out &&
	grep -Eq "src/a.js:3 +contains " out &&
	grep -q "src/a.js:4  find-third: _.find(users, fn, 2)" out &&
	grep -q "the third argument is fromIndex in lodash 4" out &&
	grep -q "package.json dependencies: bump lodash .\\^3.10.1. -> .\\^4.18.1." out &&
	grep -q "choice: style=lodash (default)" out &&
	grep -q "post steps (not run; use --run-post to run them here):" out &&
	grep -q "^2 files changed, 2 changes, 1 need review" out &&
	cmp before.js svc/src/a.js &&
	grep -q "\\^3.10.1" svc/package.json &&
	! test -e svc/post.txt
'

test_expect_success 'apply writes, keeps node_modules and literals, runs post steps on request' '
	make_fixture &&
	nsh recipe apply ./mini.yml svc --run-post >out 2>err &&
	grep -q "running post step .lockfile." err &&
	test "$(cat svc/post.txt)" = refreshed &&
	grep -q "var names = _.map(users, .name.);" svc/src/a.js &&
	grep -q "_.includes(names, .bob.)) { log(\"_.contains(x)\"); }" svc/src/a.js &&
	grep -q "_.find(users, fn, 2)" svc/src/a.js &&
	grep -q "_.pluck" svc/node_modules/lodash/x.js &&
	grep -q "\"lodash\": \"\\^4.18.1\"" svc/package.json &&
	sed -n 2p svc/package.json | grep -q "^  \"name\": \"svc\",$"
'

test_expect_success 'applying twice equals applying once' '
	make_fixture &&
	nsh recipe apply ./mini.yml svc >/dev/null &&
	cp -r svc once &&
	nsh recipe apply ./mini.yml svc >out &&
	grep -q "applies: no: .lodash. .\\^4.18.1. in package.json dependencies (from 4.18.1) is outside .3.x." out &&
	grep -q "nothing done" out &&
	diff -r once svc &&
	nsh recipe apply ./mini.yml svc --force >out &&
	grep -q "^0 files changed, 0 changes, 1 need review" out &&
	diff -r once svc
'

test_expect_success 'a choice switches rules; the PR body states the assumption' '
	make_fixture &&
	nsh recipe apply ./mini.yml svc --dry-run --choice style=native --pr-body >out &&
	grep -q "^Moves the service to lodash 4.$" out &&
	grep -q "| .contains-native. | - | no | 1 | 0 |" out &&
	grep -q "\\*\\*native\\*\\*: use Array.prototype.includes; assumes that the collection is an array" out &&
	grep -q "^- .src/a.js:4. (.find-third.): the third argument" out &&
	nsh recipe apply ./mini.yml svc --choice style=native >/dev/null &&
	grep -q "if (names.includes(.bob.))" svc/src/a.js
'

test_expect_success 'apply --json has changes, review items, counts and post steps' '
	make_fixture &&
	nsh recipe apply ./mini.yml svc --dry-run --json >out &&
	grep -q "\"applicable\": true" out &&
	grep -q "\"rule\": \"pluck\"" out &&
	grep -q "\"line\": 4" out &&
	grep -q "\"needs_review\": 1" out &&
	grep -q "\"state\": \"not run\"" out &&
	grep -q "\"from\": \"\\^3.10.1\"" out
'

test_expect_success 'lodash-4-security bumps lodash 4 only, and changes no code' '
	mkdir -p s4 &&
	printf "{\n  \"dependencies\": {\n    \"lodash\": \"~4.17.15\"\n  }\n}\n" >s4/package.json &&
	echo "_.template(x);" >s4/index.js &&
	nsh recipe apply lodash-4-security s4 >out &&
	grep -q "\"lodash\": \"~4.18.1\"" s4/package.json &&
	test "$(cat s4/index.js)" = "_.template(x);" &&
	grep -q "^1 files changed, 0 changes" out &&
	printf "{\"dependencies\": {\"lodash\": \"^3.10.1\"}}" >s4/package.json &&
	nsh recipe apply lodash-4-security s4 >out &&
	grep -q "outside .>=4.0.0 <4.18.1." out
'

test_expect_success 'errors: unknown recipe, choice or alternative exit 1; bad usage exits 2' '
	make_fixture &&
	expect_code 1 nsh recipe show nope 2>err &&
	grep -q "^nightshift: error: no recipe .nope. (known: example-node-buffer, lodash-4-security)$" err &&
	expect_code 1 nsh recipe apply ./mini.yml svc --choice colour=red 2>err &&
	grep -q "recipe .mini. has no choice .colour. (choices: style)" err &&
	expect_code 1 nsh recipe apply ./mini.yml svc --choice style=blue 2>err &&
	grep -q "choice .style. has no alternative .blue. (alternatives: lodash, native)" err &&
	expect_code 1 nsh recipe apply ./mini.yml nodir 2>err &&
	grep -q "nodir. is not a directory" err &&
	expect_code 2 nsh recipe apply ./mini.yml svc --choice style 2>err &&
	grep -q "choice needs CHOICE=ALT" err &&
	expect_code 2 nsh recipe apply ./mini.yml 2>err &&
	expect_code 2 nsh recipe apply ./mini.yml svc --bogus 2>err &&
	expect_code 2 nsh recipe apply ./mini.yml svc --dry-run --run-post 2>err &&
	expect_code 2 nsh recipe frobnicate 2>err &&
	expect_code 2 nsh recipe 2>err &&
	expect_code 2 nsh recipe show 2>err &&
	grep -q "missing NAME" err &&
	grep -q "\\^3.10.1" svc/package.json
'

test_done
