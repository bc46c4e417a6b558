'use strict';

// Every module path whose method lodash 4 removed or renamed: the path of the lodash 4 method.
const pluckFn = require('lodash/collection/pluck');
const whereFn = require('lodash/collection/where');
const findWhereFn = require('lodash/collection/findWhere');
const allFn = require('lodash/collection/all');
const anyFn = require('lodash/collection/any');
const backflowFn = require('lodash/function/backflow');
const composeFn = require('lodash/function/compose');
const callbackFn = require('lodash/utility/callback');
const collectFn = require('lodash/collection/collect');
const detectFn = require('lodash/collection/detect');
const foldlFn = require('lodash/collection/foldl');
const injectFn = require('lodash/collection/inject');
const foldrFn = require('lodash/collection/foldr');
const selectFn = require('lodash/collection/select');
const uniqueFn = require('lodash/array/unique');
const containsFn = require('lodash/collection/contains');
const includeFn = require('lodash/collection/include');
const methodsFn = require('lodash/object/methods');
const objectFn = require('lodash/array/object');
const indexByFn = require('lodash/collection/indexBy');
const invokeFn = require('lodash/collection/invoke');
const padLeftFn = require('lodash/string/padLeft');
const padRightFn = require('lodash/string/padRight');
const pairsFn = require('lodash/object/pairs');
const restFn = require('lodash/array/rest');
const restParamFn = require('lodash/function/restParam');
const sortByOrderFn = require('lodash/collection/sortByOrder');
const sortByAllFn = require('lodash/collection/sortByAll');
const trimLeftFn = require('lodash/string/trimLeft');
const trimRightFn = require('lodash/string/trimRight');
const truncFn = require('lodash/string/trunc');
const capitalizeFn = require('lodash/string/capitalize');
const functionsFn = require('lodash/object/functions');

module.exports = [pluckFn, whereFn, findWhereFn, allFn, anyFn, backflowFn];
