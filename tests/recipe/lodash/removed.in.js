'use strict';

const _ = require('lodash');

// Removed methods: pluck, where, findWhere (they throw in lodash 4).
function names(users) {
  return _.pluck(users, 'name');
}

function deepNames(users) {
  return _.pluck(users, 'profile.name');
}

function nested(groups) {
  return _.pluck(_.pluck(groups, 'lead'), 'id');
}

function admins(users) {
  return _.where(users, { role: 'admin', active: true });
}

function owner(users, id) {
  return _.findWhere(users, { id: id });
}

// Wrapped and explicit chains call the same methods.
function activeNames(users) {
  return _(users)
    .where({ active: true })
    .pluck('name')
    .value();
}

function firstAdmin(users) {
  return _.chain(users).findWhere({ role: 'admin' }).value();
}

// A passed reference is renamed too.
const getters = { names: _.pluck };

// Not lodash's: other objects, strings, comments, longer names.
const text = '_.pluck(users, "name") is gone'; // _.pluck stays in this comment
const other = store._.pluck(users, 'id');
const alsoOther = _.map(users, fn).pluck;
const longer = _.plucked(users);

if (_.support.funcNames) {
  console.log('named functions');
}

module.exports = { names, deepNames, nested, admins, owner, activeNames, firstAdmin, getters, text, other, alsoOther, longer };
