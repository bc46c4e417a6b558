'use strict';

const _ = require('lodash');

// By default _.contains becomes _.includes, which also searches the values of objects.
const canonical = _.contains(ALIASES, term);
const known = _.contains(KNOWN, word);
const inTitle = _.contains(title, term) ? 3 : 0;
const chained = _(list).filter(Boolean).contains(item);

module.exports = { canonical, known, inTitle, chained };
