// A minified or vendored file is not the repository's code: left alone.
var _=require('lodash');module.exports=_.pluck(a,'b').concat(_.contains(c,d));
