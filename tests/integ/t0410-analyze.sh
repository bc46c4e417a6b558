#!/bin/sh
# nightshift analyze: fixture organisations of bare repositories with
# planted usages. Exact counts and file:line:column for every call form,
# transitive use through lockfiles v1, v2 and v3, a malformed manifest in
# one repository while the others are analysed, the plan order (critical
# last), other ecosystems, and the JSON shape.
. "$(dirname "$0")/lib.sh"

FIX=$T_TRASH/fixtures
mkdir -p "$FIX/src" "$FIX/forge"

# commit the files under $FIX/src/NAME and make $FIX/forge/ORG/NAME.git of them
mkrepo() {
	(
		cd "$FIX/src/$2" &&
		GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git init -q -b main . &&
		GIT_CONFIG_GLOBAL=/dev/null git add -A &&
		GIT_CONFIG_GLOBAL=/dev/null git -c user.name=t -c user.email=t@example.com \
			commit -q -m "fixture $2"
	) &&
	mkdir -p "$FIX/forge/$1" &&
	GIT_CONFIG_GLOBAL=/dev/null git clone -q --bare "$FIX/src/$2" "$FIX/forge/$1/$2.git"
}

# put FILE (relative to $FIX/src) in place with the text on stdin
put() {
	mkdir -p "$(dirname "$FIX/src/$1")" && cat >"$FIX/src/$1"
}

# --- organisation acme: lodash 3 -> 4 --------------------------------------

put billing/package.json <<'EOF'
{
  "name": "billing",
  "dependencies": {
    "express": "^4.18.0",
    "lodash": "^3.10.1"
  }
}
EOF
put billing/package-lock.json <<'EOF'
{"name": "billing", "lockfileVersion": 3, "packages": {
  "": {"name": "billing", "dependencies": {"express": "^4.18.0", "lodash": "^3.10.1"}},
  "node_modules/express": {"version": "4.18.2"},
  "node_modules/lodash": {"version": "3.10.1"}}}
EOF
put billing/src/member.js <<'EOF'
'use strict';
const _ = require('lodash');
const lodash = require('lodash');

function names(users) {
  return _.pluck(users, 'name');
}
const active = lodash.where(users, { active: true });
// _.pluck(users, 'commented out');
const label = "_.pluck(not code)";
module.exports = { names, active, label };
EOF
put billing/src/destructure.js <<'EOF'
import { pluck, where as filterBy } from 'lodash';

export const ids = (xs) => pluck(xs, 'id');
export const open = (xs) => filterBy(xs, { open: true });
EOF
put billing/src/modules.js <<'EOF'
const chunk = require('lodash/array/chunk');
const flatten = require('lodash/flatten');
const pluckOne = require('lodash.pluck');
module.exports = [chunk([1, 2, 3], 2), flatten([[1], [2]], true), pluckOne([{ a: 1 }], 'a')];
EOF
put billing/src/chain.js <<'EOF'
const _ = require('lodash');
exports.run = (users) => _(users).pluck('name').value();
exports.deep = (users) => _.chain(users).flatten(true).pluck('id').value();
EOF
put billing/src/other.js <<'EOF'
const db = require('./db');
db.where({ id: 1 }).first();
EOF
put billing/test/member.test.js <<'EOF'
const assert = require('assert');
EOF
mkrepo acme billing

# lockfile v1: lodash only through "request"
put legacy/package.json <<'EOF'
{"name": "legacy", "dependencies": {"request": "^2.88.0"}}
EOF
put legacy/package-lock.json <<'EOF'
{"name": "legacy", "lockfileVersion": 1, "dependencies": {
  "request": {"version": "2.88.0", "requires": {"lodash": "^3.10.0"}},
  "lodash": {"version": "3.10.1"}}}
EOF
put legacy/src/app.js <<'EOF'
var request = require('request');
EOF
put legacy/test/app.test.js <<'EOF'
require('../src/app');
EOF
mkrepo acme legacy

# lockfile v2: through a scoped package, in a nested copy
put search/package.json <<'EOF'
{"name": "search", "dependencies": {"@elastic/tool": "^1.0.0"}}
EOF
put search/package-lock.json <<'EOF'
{"name": "search", "lockfileVersion": 2, "packages": {
  "": {"name": "search", "dependencies": {"@elastic/tool": "^1.0.0"}},
  "node_modules/@elastic/tool": {"version": "1.0.0", "dependencies": {"lodash": "^3.0.0"}},
  "node_modules/@elastic/tool/node_modules/lodash": {"version": "3.5.0"}},
 "dependencies": {"@elastic/tool": {"version": "1.0.0",
  "dependencies": {"lodash": {"version": "3.5.0"}}}}}
EOF
put search/src/index.js <<'EOF'
module.exports = (xs) => _.where(xs, { ok: true });
EOF
put search/spec/index.spec.js <<'EOF'
require('../src/index');
EOF
mkrepo acme search

# lockfile v3: through "archiver"; no tests at all
put reports/package.json <<'EOF'
{"name": "reports", "dependencies": {"archiver": "^5.0.0"}}
EOF
put reports/package-lock.json <<'EOF'
{"name": "reports", "lockfileVersion": 3, "packages": {
  "": {"name": "reports", "dependencies": {"archiver": "^5.0.0"}},
  "node_modules/archiver": {"version": "5.3.1", "dependencies": {"lodash": "^3.10.0"}},
  "node_modules/lodash": {"version": "3.10.1"}}}
EOF
put reports/src/report.js <<'EOF'
module.exports = {};
EOF
mkrepo acme reports

# a malformed package.json at the top; web/package.json is fine
put broken/package.json <<'EOF'
{
  "name": "broken",
  "dependencies": {
    "lodash": "^3.10.1",
  }
}
EOF
put broken/web/package.json <<'EOF'
{"name": "web", "dependencies": {"lodash": "~3.9.0"}}
EOF
put broken/web/main.js <<'EOF'
const _ = require('lodash');
_.pluck([], 'a');
EOF
mkrepo acme broken

# critical, and its lockfile drifted from package.json
put payments/package.json <<'EOF'
{"name": "payments", "dependencies": {"lodash": "3.10.1"}}
EOF
put payments/package-lock.json <<'EOF'
{"name": "payments", "lockfileVersion": 3, "packages": {
  "": {"name": "payments", "dependencies": {"lodash": "3.10.1"}},
  "node_modules/lodash": {"version": "3.9.3"}}}
EOF
put payments/.nightshift/repo.yml <<'EOF'
owners: [team-pay]
critical: true
EOF
put payments/src/pay.js <<'EOF'
const _ = require('lodash');
module.exports = (xs) => _.where(xs, { paid: true });
EOF
put payments/tests/pay.test.js <<'EOF'
require('../src/pay');
EOF
mkrepo acme payments

# already on lodash 4, and one without lodash
put modern/package.json <<'EOF'
{"name": "modern", "dependencies": {"lodash": "^4.17.21"}}
EOF
put modern/package-lock.json <<'EOF'
{"name": "modern", "lockfileVersion": 3, "packages": {
  "": {"name": "modern", "dependencies": {"lodash": "^4.17.21"}},
  "node_modules/lodash": {"version": "4.17.21"}}}
EOF
put modern/index.js <<'EOF'
const _ = require('lodash');
_.map([], 'a');
EOF
mkrepo acme modern
put docs/README.md <<'EOF'
# docs: mentions _.pluck but has no manifest
EOF
mkrepo acme docs
# a repository without any commit
GIT_CONFIG_GLOBAL=/dev/null git init -q --bare "$FIX/forge/acme/empty.git"

# --- organisation poly: the other ecosystems -------------------------------

put py1/requirements.txt <<'EOF'
# production pins
Requests==2.31.0
EOF
put py1/requirements-dev.txt <<'EOF'
-r requirements.txt
requests[socks] >= 2.0  # for tests
EOF
mkrepo poly py1
put py2/pyproject.toml <<'EOF'
[project]
name = "py2"
dependencies = [
  "requests>=2.28,<3",
]
EOF
mkrepo poly py2
put gosvc/go.mod <<'EOF'
module example.com/gosvc

go 1.21

require (
	github.com/pkg/errors v0.9.1
	golang.org/x/sys v0.1.0 // indirect
)
EOF
mkrepo poly gosvc
put rustsvc/Cargo.toml <<'EOF'
[package]
name = "rustsvc"
version = "0.1.0"

[dependencies]
serde = { version = "1.0", features = ["derive"] }
EOF
mkrepo poly rustsvc
put javasvc/pom.xml <<'EOF'
<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <properties><guava.version>31.1-jre</guava.version></properties>
  <dependencies>
    <dependency>
      <groupId>com.google.guava</groupId>
      <artifactId>guava</artifactId>
      <version>${guava.version}</version>
    </dependency>
  </dependencies>
</project>
EOF
mkrepo poly javasvc
put badpom/pom.xml <<'EOF'
<project><dependencies><dependency>
EOF
put badpom/requirements.txt <<'EOF'
requests
EOF
mkrepo poly badpom

use_forge() {
	cp -R "$FIX/forge" "$NIGHTSHIFT_HOME/"
}

# q FILE QUERY [REPO [KEY]]: a part of the JSON of "analyze --json", as text lines
cat >"$FIX/q.py" <<'PY'
import json, sys

d = json.load(open(sys.argv[1]))
what = sys.argv[2]
r = {x["repo"]: x for x in d["plan"] + d["unaffected"]}
x = r.get(sys.argv[3]) if len(sys.argv) > 3 else None
s = lambda v: "-" if v is None else str(v)
if what == "usages":
    for u in x["api_usages"]:
        print("%s:%d:%d %s %s %s" % (u["file"], u["line"], u["column"], u["form"], u["api"],
                                     u["text"]))
elif what == "counts":
    print(" ".join("%s=%d" % kv for kv in x["api_counts"].items()))
elif what == "deps":
    for e in x["dependencies"]:
        print(" ".join(s(e[k]) for k in ("ecosystem", "manifest", "line", "kind", "usage",
                                         "declared", "lockfile", "resolved", "match"))
              + " via=" + ",".join(e["via"]))
elif what == "field":
    v = x[sys.argv[4]]
    print(v if isinstance(v, str) else json.dumps(v))
elif what == "reasons":
    for e in x["risk"]["reasons"]:
        print("%s %d %s" % (e["term"], e["points"], e["text"]))
elif what == "warnings":
    for w in x["warnings"]:
        print("%s: %s" % (w["file"], w["reason"]))
elif what == "lines":
    for v in x[sys.argv[4]]:
        print(v)
elif what == "top":
    print(json.dumps(d[sys.argv[3]], sort_keys=True))
elif what == "keys":
    print(" ".join(sorted(d.keys())), "/", " ".join(sorted(d["plan"][0].keys())))
elif what == "order":
    print(" ".join("%d:%s" % (e["position"], e["repo"]) for e in d["plan"]), "/",
          " ".join(e["repo"] for e in d["unaffected"]))
PY
q() {
	python3 "$FIX/q.py" "$@"
}

APIS="--api pluck=throws --api where=throws --api chunk=throws --api flatten"

test_expect_success 'every call form is found with its exact file, line and column' '
	use_forge &&
	nsh analyze acme --dependency "lodash@<4" $APIS --json >out.json &&
	q out.json usages billing >got &&
	cat >want <<-\EOF &&
	src/chain.js:2:35 chain pluck _(users).pluck
	src/chain.js:3:42 chain flatten _.chain(users).flatten
	src/chain.js:3:56 chain pluck _.chain(users).flatten(true).pluck
	src/destructure.js:1:10 destructured pluck { pluck }
	src/destructure.js:1:17 destructured where { where as filterBy }
	src/destructure.js:3:28 call pluck pluck(
	src/destructure.js:4:29 call where filterBy(
	src/member.js:6:12 member pluck _.pluck
	src/member.js:8:23 member where lodash.where
	src/modules.js:1:24 category chunk lodash/array/chunk
	src/modules.js:2:26 module flatten lodash/flatten
	src/modules.js:3:27 package pluck lodash.pluck
	src/modules.js:4:19 call chunk chunk(
	src/modules.js:4:40 call flatten flatten(
	src/modules.js:4:67 call pluck pluckOne(
	EOF
	diff -u want got &&
	test "$(q out.json counts billing)" = "pluck=7 flatten=3 where=3 chunk=2" &&
	test "$(q out.json field billing files_with_usages)" = 4
'

test_expect_success 'direct use: declared range, resolved version, lockfile, tests, commit' '
	use_forge &&
	nsh analyze acme --dependency "lodash@<4" $APIS --json >out.json &&
	test "$(q out.json deps billing)" = \
	     "npm package.json 5 dependencies direct ^3.10.1 package-lock.json 3.10.1 yes via=" &&
	test "$(q out.json field billing has_tests)" = true &&
	test "$(q out.json field billing test_files)" = 1 &&
	test "$(q out.json field billing files)" = 8 &&
	test "$(q out.json field billing commit)" = \
	     "$(git --git-dir="$NIGHTSHIFT_HOME/forge/acme/billing.git" rev-parse HEAD)"
'

test_expect_success 'transitive use through lockfiles v1, v2 and v3, with the package it comes through' '
	use_forge &&
	nsh analyze acme --dependency lodash --json >out.json &&
	for repo in legacy search reports; do
		q out.json deps $repo && q out.json field $repo usage || return 1
	done >got &&
	cat >want <<-\EOF &&
	npm package-lock.json - - transitive - package-lock.json 3.10.1 yes via=request
	transitive
	npm package-lock.json - - transitive - package-lock.json 3.5.0 yes via=@elastic/tool
	transitive
	npm package-lock.json - - transitive - package-lock.json 3.10.1 yes via=archiver
	transitive
	EOF
	diff -u want got
'

test_expect_success 'a malformed manifest warns with file and reason; everything else is analysed' '
	use_forge &&
	nsh analyze acme --dependency "lodash@<4" $APIS >out 2>err &&
	test ! -s err &&
	grep -q "^  broken: package.json: invalid json at line 5" out &&
	grep -q "^  empty: the default branch has no commits$" out &&
	nsh analyze acme --dependency "lodash@<4" $APIS --json >out.json &&
	test "$(q out.json deps broken)" = "npm web/package.json 1 dependencies direct ~3.9.0 - - yes via=" &&
	test "$(q out.json warnings broken | cut -c1-34)" = "package.json: invalid json at line" &&
	test "$(q out.json counts broken)" = "pluck=1" &&
	test "$(q out.json order | cut -d/ -f1)" = "1:legacy 2:search 3:reports 4:broken 5:billing 6:payments "
'

test_expect_success 'the plan: low risk first, critical last, unaffected apart, one summary line' '
	use_forge &&
	nsh analyze acme --dependency "lodash@<4" $APIS >out &&
	sed -n 1p out | grep -Eq "^# +REPO +USAGE +VERSION +APIS +RISK +WHY$" &&
	sed -n 2,7p out | awk "{ print \$1, \$2, \$3 }" >got &&
	cat >want <<-\EOF &&
	1 legacy transitive
	2 search transitive
	3 reports transitive
	4 broken direct
	5 billing direct
	6 payments direct
	EOF
	diff -u want got &&
	grep -Eq "^2 +search +transitive +3\.5\.0 +where 1 +5 +throws 1 \+ files 2 \+ transitive 2$" out &&
	grep -Eq "^5 +billing +direct +\^3\.10\.1 \(3\.10\.1\) +pluck 7, flatten 3, where 3, chunk 2 +29 +silent 9 \+ throws 12 \+ files 8$" out &&
	grep -Eq "^6 +payments +direct +3\.10\.1 \(3\.9\.3\) +where 1 +8 +throws 1 \+ files 2 \+ drift 5, critical$" out &&
	grep -q "^  modern: .lodash. 4.17.21 is outside .<4.$" out &&
	grep -q "^  docs: no .lodash. in any manifest$" out &&
	grep -q "^  empty: the default branch has no commits$" out &&
	test "$(tail -n 1 out)" = "9 repositories, 3 direct, 3 transitive, 3 unaffected (dependency lodash@<4)"
'

test_expect_success 'risk reasons show each term with its numbers' '
	use_forge &&
	nsh analyze acme --dependency "lodash@<4" $APIS --json >out.json &&
	for repo in billing reports payments; do q out.json reasons $repo || return 1; done >got &&
	cat >want <<-\EOF &&
	silent 9 3 usages of silently changing APIs x3 (flatten 3)
	throws 12 12 usages of APIs that throw x1 (pluck 7, where 3, chunk 2)
	files 8 4 files with usages x2
	no-tests 10 no test files among 3 files
	transitive 2 only through other packages (archiver)
	throws 1 1 usage of APIs that throw x1 (where 1)
	files 2 1 file with usages x2
	drift 5 lockfile drift: package-lock.json resolves QlodashQ to 3.9.3, outside Q3.10.1Q in package.json
	critical 0 critical (.nightshift/repo.yml critical: true): planned last
	EOF
	tr Q "\047" <want >want.q &&
	diff -u want.q got &&
	test "$(q out.json field payments lockfile_drift)" = true &&
	test "$(q out.json field billing lockfile_drift)" = false
'

test_expect_success 'JSON output shape' '
	use_forge &&
	nsh analyze acme --dependency "lodash@<4" --api pluck --json >out.json &&
	test "$(q out.json keys)" = "dependency org plan range summary unaffected / affected api_counts api_usages commit critical critical_source declared dependencies drift_reasons files files_with_usages has_tests lockfile_drift match notes position repo resolved risk test_files unaffected_reason usage warnings" &&
	test "$(q out.json top summary)" = "{\"direct\": 3, \"repositories\": 9, \"transitive\": 3, \"unaffected\": 3}" &&
	test "$(q out.json top dependency)" = "\"lodash\"" &&
	test "$(q out.json top range)" = "\"<4\"" &&
	test "$(q out.json order | cut -d/ -f2)" = " docs empty modern" &&
	test "$(q out.json field payments critical_source)" = ".nightshift/repo.yml critical: true" &&
	q out.json field modern unaffected_reason | grep -q "^.lodash. 4.17.21 is outside .<4.$" &&
	grep -q "\"class\": \"silent\"" out.json
'

test_expect_success 'without a range every version is affected; with one, versions outside are not' '
	use_forge &&
	nsh analyze acme --dependency lodash >out &&
	test "$(tail -n 1 out)" = "9 repositories, 4 direct, 3 transitive, 2 unaffected (dependency lodash)" &&
	nsh analyze acme --dependency "lodash@^4.0.0" >out &&
	test "$(tail -n 1 out)" = "9 repositories, 1 direct, 0 transitive, 8 unaffected (dependency lodash@^4.0.0)" &&
	grep -q "^  billing: .lodash. 3.10.1 is outside .\^4.0.0.$" out
'

test_expect_success 'python, go, rust and maven manifests' '
	use_forge &&
	nsh analyze poly --dependency requests --json >py.json &&
	for repo in py1 py2 badpom; do q py.json deps $repo || return 1; done >got &&
	cat >want <<-\EOF &&
	pypi requirements-dev.txt 2 dev direct >= 2.0 - - yes via=
	pypi requirements.txt 2 dependencies direct ==2.31.0 - 2.31.0 yes via=
	pypi pyproject.toml 4 dependencies direct >=2.28,<3 - - yes via=
	pypi requirements.txt 1 dependencies direct - - - yes via=
	EOF
	diff -u want got &&
	q py.json lines py1 notes | grep -q "^requirements-dev.txt: line 1: includes .requirements.txt. (not followed)$" &&
	q py.json warnings badpom | grep -q "^pom.xml: invalid xml at line [0-9]" &&
	nsh analyze poly --dependency github.com/pkg/errors --json >go.json &&
	test "$(q go.json deps gosvc)" = "go go.mod 6 dependencies direct v0.9.1 - v0.9.1 yes via=" &&
	nsh analyze poly --dependency golang.org/x/sys --json >sys.json &&
	test "$(q sys.json field gosvc usage)" = transitive &&
	nsh analyze poly --dependency serde --json >rs.json &&
	test "$(q rs.json deps rustsvc)" = "cargo Cargo.toml 6 dependencies direct 1.0 - - yes via=" &&
	nsh analyze poly --dependency "com.google.guava:guava@>=31" --json >mvn.json &&
	test "$(q mvn.json deps javasvc)" = "maven pom.xml 5 dependencies direct 31.1-jre - - unknown via="
'

test_expect_success 'usage errors exit 2; an unknown organisation exits 1 naming it' '
	expect_code 2 nsh analyze acme 2>err &&
	grep -q "missing --dependency" err &&
	expect_code 2 nsh analyze --dependency lodash 2>err &&
	grep -q "missing ORG" err &&
	expect_code 2 nsh analyze acme --dependency "lodash@latest" 2>err &&
	grep -q "invalid version range .latest." err &&
	expect_code 2 nsh analyze acme --dependency lodash --api pluck=maybe 2>err &&
	grep -q "bad --api .pluck=maybe." err &&
	expect_code 2 nsh analyze acme --dependency lodash --api "a-b" 2>err &&
	grep -q "invalid API name .a-b." err &&
	expect_code 2 nsh analyze ../etc --dependency lodash 2>err &&
	grep -q "invalid organisation name" err &&
	expect_code 1 nsh analyze nosuch --dependency lodash 2>err &&
	test "$(wc -l <err)" -eq 1 &&
	grep -q "^nightshift: error: unknown organisation .nosuch." err
'

test_done
