'use strict';

const _ = require('lodash');

// By default _.contains becomes _.includes, which also searches the values of objects.
const canonical = _.includes(ALIASES, term);
const known = _.includes(KNOWN, word);
const inTitle = _.includes(title, term) ? 3 : 0;
const chained = _(list).filter(Boolean).includes(item);

module.exports = { canonical, known, inTitle, chained };
