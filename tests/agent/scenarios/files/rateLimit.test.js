'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { createApp } = require('../src/app');
const { request } = require('./helpers');

const good = { user: 'alice', password: 'wonderland' };

test('logins within the limit pass', async () => {
	const app = createApp({ rateLimit: { max: 3, windowMs: 1000, now: () => 0 } });
	for (let i = 0; i < 3; i++) assert.strictEqual((await request(app, { body: good })).status, 200);
});

test('the login past the limit gets 429 with retry-after', async () => {
	const app = createApp({ rateLimit: { max: 3, windowMs: 1000, now: () => 0 } });
	for (let i = 0; i < 3; i++) await request(app, { body: good });
	const r = await request(app, { body: good });
	assert.strictEqual(r.status, 429);
	assert.strictEqual(r.headers['retry-after'], '1');
});

test('the limit resets after the window', async () => {
	let t = 0;
	const app = createApp({ rateLimit: { max: 1, windowMs: 1000, now: () => t } });
	assert.strictEqual((await request(app, { body: good })).status, 200);
	assert.strictEqual((await request(app, { body: good })).status, 429);
	t = 1000;
	assert.strictEqual((await request(app, { body: good })).status, 200);
});
