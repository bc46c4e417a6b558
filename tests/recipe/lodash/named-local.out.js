'use strict';

// This file defines its own pluck and indexBy and imports nothing by name
// from lodash: none of it changes.
const _ = require('lodash');

function pluck(list, field) {
  return list.map((x) => x[field]);
}

function indexBy(list, field) {
  return pluck(list, field).length;
}

module.exports = { pluck, indexBy, first: _.first(list) };
