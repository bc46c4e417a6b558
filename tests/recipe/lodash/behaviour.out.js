'use strict';

const _ = require('lodash');

// extend copies inherited properties in lodash 4 (default: assignIn).
const merged = _.assignIn({}, DEFAULTS, options);
const wrapped = _(target).assignIn(source).value();

// capitalize lower-cases the rest in lodash 4; functions lists own ones only.
const title = _.upperFirst(word);
const api = _.functionsIn(service);

// after and before take the count first.
const ready = _.after(3, function () {
  start();
});
const once = _.before(2, init);
const already = _.after(3, done);

// Boolean options became option objects.
const save = _.debounce(persist, 100, { leading: true, trailing: false });
const scroll = _.throttle(onScroll, 50, { leading: false });
_.mixin(target, helpers, { chain: false });
const keep = _.debounce(persist, 100, { maxWait: 1000 });

// bindAll needs the method names in lodash 4.
_.bindAll(view);
_.bindAll(view, 'render', 'close');

module.exports = { merged, wrapped, title, api, ready, once, already, save, scroll, keep };

// A method chosen at run time: reported.
const evaluate = (rule, subject) => _[rule.op](subject, rule.value);
const second = _['first'];
