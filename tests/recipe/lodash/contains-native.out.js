// choices: contains-style=native
'use strict';

const _ = require('lodash');

// The native includes where the collection is a name, a member or a literal.
const known = KNOWN.includes(word);
const member = this.allowed.includes(role);
const literal = ['a', 'b'].includes(letter);
const inText = 'abc'.includes(letter);

// Anything else keeps lodash's includes.
const computed = _.includes(list.concat(extra), item);
const fromIndex = _.includes(list, item, 2);
const chained = _(list).includes(item);
const alias = _.includes(list, item);

module.exports = { known, member, literal, inText, computed, fromIndex, chained, alias };
