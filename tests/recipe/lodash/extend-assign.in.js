// choices: extend-style=assign
'use strict';

const _ = require('lodash');
const extend = require('lodash/object/extend');

// Own properties only, as lodash 3 did.
function snapshot(quote) {
  return _.extend({ totalCents: quote.totalCents() }, quote);
}

const withCustomizer = _.extend({}, base, overrides, function (a, b) {
  return b === undefined ? a : b;
});

module.exports = { snapshot, withCustomizer, extend };
