// choices: contains-style=native
'use strict';

const _ = require('lodash');

// The native includes where the collection is a name, a member or a literal.
const known = _.contains(KNOWN, word);
const member = _.contains(this.allowed, role);
const literal = _.contains(['a', 'b'], letter);
const inText = _.contains('abc', letter);

// Anything else keeps lodash's includes.
const computed = _.contains(list.concat(extra), item);
const fromIndex = _.contains(list, item, 2);
const chained = _(list).contains(item);
const alias = _.include(list, item);

module.exports = { known, member, literal, inText, computed, fromIndex, chained, alias };
