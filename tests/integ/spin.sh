# Fixtures for tests that control running jobs (sourced after lib.sh):
# services whose only test spins the CPU, and a recipe that moves their
# lodash to 4. Installing them needs the npm registry.
#
#   make_repo NAME SECONDS   a service acme/NAME whose test spins SECONDS
#   recipe                   the recipe lodash-bump in $NIGHTSHIFT_HOME
#   spin_cpu                 CPU ticks of the running spin test, or ""
#
# The test file's name carries a mark made from $NIGHTSHIFT_HOME, so that
# spin_cpu sees only this home's test when other scripts spin at the same time.

spin_mark() {
	printf '%s' "$NIGHTSHIFT_HOME" | cksum | cut -d' ' -f1
}

make_repo() {
	d=$PWD/src/$1
	mkdir -p "$d/test" &&
	cat >"$d/package.json" <<-EOF &&
	{ "name": "$1", "version": "1.0.0", "scripts": { "test": "node --test" },
	  "dependencies": { "lodash": "^3.10.1" } }
	EOF
	cat >"$d/test/spin-$(spin_mark).test.js" <<-EOF &&
	const test = require('node:test');
	test('spins for a while', () => {
	  let n = 0; const end = Date.now() + $2 * 1000;
	  while (Date.now() < end) n++;
	});
	EOF
	printf 'node_modules/\n' >"$d/.gitignore" &&
	git -C "$d" init -q -b main &&
	git -C "$d" add -A &&
	git -C "$d" -c user.name=t -c user.email=t@t commit -q -m init &&
	nsh forge import acme "$d" >/dev/null
}

recipe() {
	mkdir -p "$NIGHTSHIFT_HOME/recipes" &&
	cat >"$NIGHTSHIFT_HOME/recipes/lodash-bump.yml" <<-'EOF'
	id: lodash-bump
	title: Move lodash to 4
	applies:
	  dependency: lodash
	  range: "<4.0.0"
	manifest:
	  - bump: lodash
	    to: ^4.17.21
	EOF
}

spin_cpu() {
	pid=$(pgrep -f "/test/spin-$(spin_mark)\.test\.js" | head -n 1)
	[ -n "$pid" ] && awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null
}
