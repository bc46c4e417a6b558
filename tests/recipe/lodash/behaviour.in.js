'use strict';

const _ = require('lodash');

// extend copies inherited properties in lodash 4 (default: assignIn).
const merged = _.extend({}, DEFAULTS, options);
const wrapped = _(target).extend(source).value();

// capitalize lower-cases the rest in lodash 4; functions lists own ones only.
const title = _.capitalize(word);
const api = _.functions(service);

// after and before take the count first.
const ready = _.after(function () {
  start();
}, 3);
const once = _.before(init, 2);
const already = _.after(3, done);

// Boolean options became option objects.
const save = _.debounce(persist, 100, true);
const scroll = _.throttle(onScroll, 50, false);
_.mixin(target, helpers, false);
const keep = _.debounce(persist, 100, { maxWait: 1000 });

// bindAll needs the method names in lodash 4.
_.bindAll(view);
_.bindAll(view, 'render', 'close');

module.exports = { merged, wrapped, title, api, ready, once, already, save, scroll, keep };

// A method chosen at run time: reported.
const evaluate = (rule, subject) => _[rule.op](subject, rule.value);
const second = _['first'];
