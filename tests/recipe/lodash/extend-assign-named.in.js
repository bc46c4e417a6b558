// choices: extend-style=assign
'use strict';

const { extend, pick } = require('lodash');

// extend imported by name becomes assign, with its uses.
function snapshot(quote) {
  return extend({ totalCents: quote.totalCents() }, pick(quote, 'sku'));
}

module.exports = snapshot;
