'use strict';

const { unique, indexBy, contains } = require('lodash');
const { padLeft = null, where: filterBy } = require('lodash');
const { pluck, extend } = require('lodash');
const { max, sum } = require("lodash");
const { select } = require('lodash');

// Members imported by name are renamed in the import and in every use.
function actors(entries) {
  return unique(entries.map((e) => e.actor));
}

function byId(list) {
  return indexBy(list, 'id');
}

const isKnown = (list, x) => contains(list, x);
const label = (n) => padLeft(String(n), 4, '0');
const helpers = [unique, contains];

// Imported under another name: left as it is, and the import reported.
const admins = (users) => filterBy(users, { admin: true });

// pluck is also an object key here, and extend is exported as a shorthand
// property below: renaming them would change those objects, so they stay as
// they are everywhere and their import is reported.
const config = { pluck: true };
const names = (users) => pluck(users, config.pluck ? 'name' : 'id');

// select would become filter, a name this file already uses: left, and reported.
const filter = (list) => select(list, Boolean);

// Whose lodash 4 method depends on the arguments: reported.
const top = (list) => max(list, 'score');
const total = (list) => sum(list, (x) => x.cents);
const plainMax = (list) => max(list);

module.exports = { actors, byId, isKnown, label, helpers, admins, names, filter, top, total, plainMax, extend };
