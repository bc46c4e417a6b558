'use strict';

// lodash bound to another name: that name is used, _ is left alone.
const lodash = require('lodash');
const _ = require('underscore');

const ids = lodash.map(users, 'id');
const allowed = lodash.includes(ROLES, role);
const underscoreIds = _.pluck(users, 'id');

module.exports = { ids, allowed, underscoreIds };
