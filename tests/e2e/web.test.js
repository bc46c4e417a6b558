/*
 * Browser tests of the web UI: headless Debian chromium driven by
 * playwright-core, against a daemon started by tests/integ/t0710-web.sh.
 *
 * Environment: NSH_URL, NSH_TOKEN (the daemon), NSH_BIN and
 * NIGHTSHIFT_HOME (to act from the command line while a page watches),
 * NSH_E2E_ARTIFACTS (screenshots are kept there), NSH_E2E_MODULES (where
 * playwright-core is installed).
 *
 * Prints "ok N - name" or "not ok N - name" per test, "# skipped: ..." for
 * a test whose precondition is missing (not counted), and last the line
 * "N passed, N failed".
 */
'use strict';

const path = require('path');
const fs = require('fs');
const {execFileSync} = require('child_process');
const {chromium} = require(path.join(process.env.NSH_E2E_MODULES, 'playwright-core'));

const URL = process.env.NSH_URL;
const TOKEN = process.env.NSH_TOKEN;
const SHOTS = process.env.NSH_E2E_ARTIFACTS;
/*
 * How long a step may wait. These tests check what the UI does, not how
 * fast: CI runs them beside other test programs on two cores, where one
 * step of the pull-request test once ran past a 15 s limit.
 */
const TIMEOUT = 60000;

fs.mkdirSync(SHOTS, {recursive: true});

function nsh(...args) {
	return execFileSync(process.env.NSH_BIN, args, {encoding: 'utf8', env: process.env});
}

async function api(method, p, body) {
	const res = await fetch(URL + p, {
		method,
		headers: {Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json'},
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const data = await res.json();
	if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
	return data;
}

function assert(cond, msg) {
	if (!cond) throw new Error('assertion failed: ' + msg);
}

class Skip extends Error {}

/* "ui" runs against a daemon without a scheduler, "demo" against one that runs tasks. */
const GROUP = process.env.NSH_E2E_GROUP || 'ui';
let group = 'ui';
const tests = [];
function test(name, fn) {
	if (group === GROUP) tests.push({name, fn});
}

async function shot(page, name) {
	await page.screenshot({path: path.join(SHOTS, name + '.png'), fullPage: true});
}

/* Open the UI signed in through the URL fragment, at @hash. */
async function open(page, hash) {
	await page.goto(URL + '/#token=' + TOKEN);
	await page.getByRole('heading', {name: 'Tasks'}).waitFor();
	if (hash) {
		await page.evaluate((h) => { location.hash = h; }, hash);
	}
}

test('signing in through the URL fragment shows the task list, and the token leaves the URL', async (page) => {
	await page.goto(URL + '/');
	await page.getByRole('heading', {name: 'Sign in'}).waitFor();
	await open(page);
	assert(!page.url().includes(TOKEN), 'token still in the URL: ' + page.url());
	await page.getByRole('link', {name: 'New task'}).first().waitFor();
	await shot(page, '01-tasks');
});

test('a new task from the form on the org appears with its state', async (page) => {
	await open(page, '#/new');
	await page.getByLabel('What should be done?').fill('Upgrade lodash 3 to 4 in the api service');
	await page.getByLabel('Organisation').selectOption('acme');
	await page.getByLabel('api', {exact: true}).check();
	await page.getByLabel('Network level').selectOption('common');
	await shot(page, '02-new-task-form');
	await page.getByRole('button', {name: 'Start task'}).click();
	await page.waitForURL(/#\/tasks\/t-[0-9a-f]+$/, {timeout: TIMEOUT});
	await page.getByRole('heading', {name: 'Upgrade lodash 3 to 4 in the api service'}).waitFor();
	const state = await page.locator('#task-state').textContent();
	assert(state.trim() === 'queued', 'state ' + state);
	const repos = await page.locator('dl.meta').textContent();
	assert(repos.includes('acme/api') && repos.includes('common'), 'meta: ' + repos);
	await page.locator('#log li', {hasText: 'task.created'}).waitFor({timeout: TIMEOUT});
	await shot(page, '03-task-created');
});

test('HTML and script in a task text render as text', async (page) => {
	const evil = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
	const {task} = await api('POST', '/api/tasks', {text: evil, org: 'acme'});
	await open(page);
	const row = page.locator(`tr[data-task="${task.id}"]`);
	await row.waitFor({timeout: TIMEOUT});
	const text = await row.locator('td.title a').textContent();
	assert(text === evil, 'rendered as ' + JSON.stringify(text));
	assert((await page.locator('td.title img').count()) === 0, 'an img element was created');
	await page.evaluate((h) => { location.hash = h; }, '#/tasks/' + task.id);
	await page.getByRole('heading', {name: evil}).waitFor({timeout: TIMEOUT});
	assert((await page.evaluate(() => window.__xss)) === undefined, 'script ran');
	assert((await page.locator('h1 img, h1 script').count()) === 0, 'markup in the heading');
	await shot(page, '04-xss-as-text');
});

test('controls: pause, resume, steer, extend and cancel update the page live', async (page) => {
	const {task} = await api('POST', '/api/tasks', {text: 'Control me from the browser', org: 'acme'});
	page.on('dialog', (d) => d.accept());
	await open(page, '#/tasks/' + task.id);
	await page.getByRole('heading', {name: 'Control me from the browser'}).waitFor();
	await page.getByRole('button', {name: 'Pause'}).click();
	await page.locator('#task-state', {hasText: 'paused'}).waitFor({timeout: TIMEOUT});
	assert(await page.getByRole('button', {name: 'Pause'}).isDisabled(), 'pause still enabled');
	await page.getByRole('button', {name: 'Resume'}).click();
	await page.locator('#task-state', {hasText: 'queued'}).waitFor({timeout: TIMEOUT});
	await page.getByLabel('Steer').fill('only touch src/');
	await page.getByRole('button', {name: 'Steer'}).click();
	await page.locator('#log li', {hasText: 'only touch src/'}).waitFor({timeout: TIMEOUT});
	/* Extend moves the deadline: the event arrives and the page shows one */
	await page.getByLabel('Extend').fill('30m');
	await page.getByRole('button', {name: 'Extend'}).click();
	await page.locator('#log li', {hasText: 'task.extended'}).waitFor({timeout: TIMEOUT});
	await page.locator('dt', {hasText: 'Deadline'}).waitFor({timeout: TIMEOUT});
	/* A change made elsewhere (the command line) arrives through the event stream. */
	nsh('pause', task.id);
	await page.locator('#task-state', {hasText: 'paused'}).waitFor({timeout: TIMEOUT});
	/* the second pause in the log: the first was made in the page */
	await page.locator('#log li', {hasText: 'queued → paused'}).nth(1).waitFor({timeout: TIMEOUT});
	await shot(page, '05-task-paused-from-cli');
	await page.getByRole('button', {name: 'Cancel'}).click();
	await page.locator('#task-state', {hasText: 'cancelled'}).waitFor({timeout: TIMEOUT});
	assert(await page.getByRole('button', {name: 'Resume'}).isDisabled(), 'resume enabled on a cancelled task');
	await shot(page, '06-task-cancelled');
});

test('a pull request: rendered body, diff, inline comment and review', async (page) => {
	await open(page, '#/prs');
	/*
	 * Exact names, after the list is there: the task list shown before it
	 * holds a task named "Upgrade lodash 3 to 4 in the api service", whose
	 * link a loose name took when the list came late (CI failed so).
	 */
	await page.getByRole('heading', {name: 'Pull requests'}).waitFor();
	await page.getByRole('link', {name: 'Upgrade lodash', exact: true}).click();
	await page.getByRole('heading', {name: 'Upgrade lodash', exact: true}).waitFor();
	/* The Markdown body is rendered: a heading and bold text, not raw marks. */
	await page.locator('#pr-body :is(h3, h4)', {hasText: 'Summary'}).waitFor();
	assert((await page.locator('#pr-body strong').textContent()) === 'lodash 4', 'bold not rendered');
	/* A Markdown table is a table: header cells, rows, inline code, an escaped pipe. */
	const table = page.locator('#pr-body table.md-table');
	await table.waitFor();
	assert(JSON.stringify(await table.locator('th').allTextContents()) === '["check","result"]', 'table header');
	assert(JSON.stringify(await table.locator('tbody tr').first().locator('td').allTextContents()) === '["tests","12 passed"]', 'table row');
	assert((await table.locator('td code').textContent()) === '12 passed', 'code in a cell');
	assert((await table.locator('tbody tr').nth(1).locator('td').first().textContent()) === 'a | b', 'escaped pipe');
	assert(!(await page.locator('#pr-body').textContent()).includes('|---'), 'table rule shown as text');
	await page.locator('table.diff tr.add', {hasText: 'exports.v = 4;'}).waitFor();
	await page.getByRole('button', {name: 'add a comment on src/app.js line 3'}).click();
	await page.getByLabel('Comment on src/app.js line 3', {exact: true}).fill('<b>why</b> export the version?');
	await page.getByRole('button', {name: 'Add to review'}).click();
	await page.locator('#pending li', {hasText: 'src/app.js:3'}).waitFor();
	await page.getByLabel('Your review').fill('Please keep the v3 API <script>window.__xss=3</script>');
	await page.getByLabel('Request changes').check();
	await shot(page, '07-pr-review');
	await page.getByRole('button', {name: 'Send review'}).click();
	await page.locator('#comments li', {hasText: 'request changes'}).waitFor({timeout: TIMEOUT});
	await page.locator('#comments li', {hasText: '<b>why</b> export the version?'}).waitFor();
	assert((await page.evaluate(() => window.__xss)) === undefined, 'script in a review ran');
	const {comments} = await api('GET', '/api/prs/acme/api/1/comments');
	const inl = comments.find((c) => c.path === 'src/app.js');
	assert(inl && inl.line === 3, 'inline comment not stored: ' + JSON.stringify(comments));
	assert(comments.some((c) => c.kind === 'request_changes'), 'no change request stored');
	await shot(page, '08-pr-reviewed');
	await page.getByRole('button', {name: 'Merge'}).click();
	await page.locator('#pr-state', {hasText: 'merged'}).waitFor({timeout: TIMEOUT});
	await shot(page, '09-pr-merged');
});

test('a page whose data comes late does not cover the page the user went on to', async (page) => {
	await open(page);
	/* Hold the pull-request list's answer while the user goes on to the memory page. */
	let held = null;
	const asked = new Promise((r) => { held = r; });
	await page.route((u) => u.pathname === '/api/prs', async (r) => {
		held();
		await new Promise((t) => setTimeout(t, 1500));
		await r.continue();
	});
	await page.evaluate(() => { location.hash = '#/prs'; });
	await asked;
	await page.evaluate(() => { location.hash = '#/memory'; });
	await page.getByRole('heading', {name: 'Memory'}).waitFor();
	await page.waitForTimeout(2500);
	assert(await page.getByRole('heading', {name: 'Memory'}).isVisible(), 'the memory page was covered');
	assert((await page.getByRole('heading', {name: 'Pull requests'}).count()) === 0, 'the late list was rendered');
});

test('the memory page lists learned rules with provenance and forgets one', async (page) => {
	page.on('dialog', (d) => d.accept());
	await open(page, '#/memory');
	const row = page.locator('tr', {hasText: 'Prefer _.flatMap over _.flatten(_.map())'});
	await row.waitFor({timeout: TIMEOUT});
	assert((await row.textContent()).includes('acme/api#1'), 'provenance missing');
	await shot(page, '10-memory');
	await row.getByRole('button', {name: /forget rule/}).click();
	await row.waitFor({state: 'detached', timeout: TIMEOUT});
	const {memories} = await api('GET', '/api/memories?state=active');
	assert(!memories.some((m) => m.rule.startsWith('Prefer _.flatMap')), 'still active');
	/* Forgotten rules stay visible on request. */
	await page.getByLabel('Show forgotten, expired and superseded rules').check();
	await page.locator('tr', {hasText: 'Prefer _.flatMap'}).locator('.badge', {hasText: 'forgotten'}).waitFor({timeout: TIMEOUT});
});

test('the memory page shows a learned preference and promotes it to the org', async (page) => {
	page.on('dialog', (d) => d.accept());
	await open(page, '#/memory');
	const row = page.locator('tr', {hasText: 'Use native includes instead of _.contains'});
	await row.waitFor({timeout: TIMEOUT});
	const text = await row.textContent();
	assert(text.includes('lodash-3-to-4: contains-style = native'), 'kind missing: ' + text);
	assert(text.includes('repo acme/api, said by alice'), 'scope missing: ' + text);
	assert(text.includes('alice') && text.includes('acme/api#1 comment 4'), 'provenance missing: ' + text);
	await row.getByRole('button', {name: /promote rule/}).click();
	await row.locator('td', {hasText: 'org acme, promoted by api'}).waitFor({timeout: TIMEOUT});
	await shot(page, '10b-memory-promoted');
	const {memories} = await api('GET', '/api/memories?kind=preference');
	assert(memories[0].scope === 'org', 'not promoted: ' + JSON.stringify(memories[0]));
});

test('keyboard only: the new-task form can be reached and filled with Tab', async (page) => {
	await open(page);
	/* The skip link comes first in the tab order, before the brand link. */
	await page.locator('.brand').focus();
	await page.keyboard.press('Shift+Tab');
	const skip = await page.evaluate(() => document.activeElement.textContent);
	assert(skip === 'Skip to content', 'Shift+Tab lands on ' + skip);
	await page.evaluate((h) => { location.hash = h; }, '#/new');
	await page.getByLabel('What should be done?').waitFor();
	await page.getByLabel('What should be done?').focus();
	await page.keyboard.type('Keyboard task');
	await page.keyboard.press('Tab');
	const focused = await page.evaluate(() => document.activeElement.id);
	assert(focused === 'n-org', 'Tab went to ' + focused);
});

group = 'demo';
test('on the demo org: a task from the form runs its jobs live to PRs, and a review is posted on one', async (page) => {
	const health = await api('GET', '/api/health');
	if (!health.scheduler) throw new Skip('the daemon runs no scheduler (no pipeline built in yet)');
	const {orgs} = await api('GET', '/api/orgs');
	if (!orgs.some((o) => o.name === 'demo-org')) throw new Skip('no demo-org in the forge');
	await open(page, '#/new');
	await page.getByLabel('What should be done?').fill('Upgrade lodash 3 to 4 across every service, run the tests, open one PR per service');
	await page.getByLabel('Organisation').selectOption('demo-org');
	await page.getByLabel('Network level').selectOption('common');
	await page.getByRole('button', {name: 'Start task'}).click();
	await page.waitForURL(/#\/tasks\/t-[0-9a-f]+$/, {timeout: TIMEOUT});
	/* Jobs appear and move while the page watches. */
	await page.locator('article.job').first().waitFor({timeout: 120000});
	await shot(page, '11-demo-jobs');
	const prLink = page.locator('article.job a', {hasText: 'PR demo-org/'}).first();
	await prLink.waitFor({timeout: 600000});
	await shot(page, '12-demo-first-pr');
	await prLink.click();
	await page.getByLabel('Your review').fill('Please keep the notifications service on the v3 API');
	await page.getByLabel('Request changes').check();
	await page.getByRole('button', {name: 'Send review'}).click();
	await page.locator('#comments li', {hasText: 'request changes'}).waitFor({timeout: TIMEOUT});
	await shot(page, '13-demo-review');
	/*
	 * The review reaches the job: with no language model the recipe brain
	 * cannot match "keep it on the v3 API" to one of its choices, so it
	 * answers on the pull request and hands the job to a person.
	 */
	const prPage = page.url();
	const repo = decodeURIComponent(prPage.split('#/prs/')[1]).split('/').slice(0, 2).join('/');
	const until = Date.now() + 300000;
	while (!(await page.locator('#comments li', {hasText: 'I could not match this'}).count())) {
		if (Date.now() > until) throw new Error('nightshift did not answer the review on ' + repo);
		await page.waitForTimeout(1000);
		await page.reload();
		await page.locator('#comments').waitFor({timeout: TIMEOUT});
	}
	await shot(page, '14-demo-review-answered');
	await page.goBack();
	await page.waitForURL(/#\/tasks\/t-[0-9a-f]+$/, {timeout: TIMEOUT});
	await page.locator(`article.job[aria-label="job ${repo}"] .badge`, {hasText: 'needs_human_review'})
		.first().waitFor({timeout: 120000});
	await shot(page, '15-demo-job-needs-person');
});

(async () => {
	let passed = 0, failed = 0, n = 0;
	const browser = await chromium.launch({
		executablePath: '/usr/bin/chromium',
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--no-first-run'],
	});
	for (const t of tests) {
		n++;
		const ctx = await browser.newContext({viewport: {width: 1366, height: 768}});
		const page = await ctx.newPage();
		page.setDefaultTimeout(TIMEOUT);
		const errors = [];
		page.on('pageerror', (e) => errors.push(String(e)));
		page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
		try {
			await t.fn(page);
			const bad = errors.filter((e) => !/Failed to load resource|ERR_ABORTED|aborted/i.test(e));
			if (bad.length) throw new Error('errors in the page: ' + bad.join('; '));
			passed++;
			console.log(`ok ${n} - ${t.name}`);
		} catch (e) {
			if (e instanceof Skip) {
				console.log(`# skipped: ${t.name}: ${e.message}`);
			} else {
				failed++;
				console.log(`not ok ${n} - ${t.name}`);
				console.log('#   ' + String(e.stack || e).split('\n').slice(0, 6).join('\n#   '));
				await shot(page, `failed-${n}`).catch(() => {});
			}
		}
		await ctx.close();
	}
	await browser.close();
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
})().catch((e) => {
	console.log('# ' + String(e.stack || e));
	console.log('0 passed, 1 failed');
	process.exit(1);
});
