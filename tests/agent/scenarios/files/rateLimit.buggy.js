'use strict';
// Middleware factory: (options) => (req, res, next). Limits requests per client
// address to `max` in a fixed window of `windowMs`; `now` is the clock (for tests).
module.exports = function rateLimit(options = {}) {
	const max = options.max || 5;
	const windowMs = options.windowMs || 60000;
	const now = options.now || Date.now;
	const hits = new Map();
	return (req, res, next) => {
		const key = req.socket.remoteAddress;
		const t = now();
		let entry = hits.get(key);
		if (!entry || t - entry.start >= windowMs) {
			entry = { start: t, count: 0 };
			hits.set(key, entry);
		}
		entry.count++;
		if (entry.count > max + 1) {
			res.statusCode = 429;
			res.setHeader('retry-after', String(Math.ceil((entry.start + windowMs - t) / 1000)));
			res.end(JSON.stringify({ error: 'too many requests' }));
			return;
		}
		next();
	};
};
