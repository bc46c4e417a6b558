// not idempotent: rest-to-tail runs before restparam-to-rest, so a second run renames the new _.rest
'use strict';

const _ = require('lodash');

const byId = _.indexBy(users, 'id');
const lengths = _.invoke(words, 'toUpperCase');
const code = _.padLeft(String(n), 6, '0');
const label = _.padRight(name, 12);
const entries = _.pairs(totals);
const others = _.rest(parts);
const variadic = _.restParam(function (first, rest) {
  return [first].concat(rest);
});
const ranked = _.sortByOrder(rows, ['score', 'name'], ['desc', 'asc']);
const sorted = _.sortByAll(rows, ['last', 'first']);
const left = _.trimLeft(line);
const right = _.trimRight(line);
const cut = _.trunc(text, { length: 40, separator: ' ' });

// Chains, and a call split over lines.
const tailIds = _(rows).pluck('id').rest().value();
const padded = _.padLeft(
  String(total),
  width
);

module.exports = { byId, lengths, code, label, entries, others, variadic, ranked, sorted, left, right, cut, tailIds, padded };
