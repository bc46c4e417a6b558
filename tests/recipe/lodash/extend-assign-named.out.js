// choices: extend-style=assign
'use strict';

const { assign, pick } = require('lodash');

// extend imported by name becomes assign, with its uses.
function snapshot(quote) {
  return assign({ totalCents: quote.totalCents() }, pick(quote, 'sku'));
}

module.exports = snapshot;
