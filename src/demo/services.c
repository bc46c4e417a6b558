/*
 * The catalogue of demo services. The order matters: the first N of the
 * table are generated for "--services N", so the first five already hold
 * each special kind (critical, heavy, light, transitive, not mechanically
 * fixable, needs an alternative rewrite).
 *
 * "apis" names each lodash 3 use by its change class in lodash 4
 * (research/lodash.md section 3): removed methods and aliases, renames and
 * category module paths throw; argument-count splits, thisArg, extend and
 * chain endings are silent or throw later.
 */
#include "demo/demo_int.h"

#include "core/banned.h"

const struct nsh_demo_service nsh_demo_services[NSH_DEMO_SERVICES] = {
	{
		.name = "billing",
		.version = "2.7.0",
		.summary = "Invoices, tax and the customer ledger",
		.owner = "payments",
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.critical = true,
		.usage = "heavy",
		.apis = "flatten(a, true), uniq(a, fn), sum(c, fn), sum(c, 'p'), max(c, fn), "
			"zipObject(pairs), find(c, fn, this), where, pluck, indexBy, padLeft, "
			"extend (own properties only)",
		.outcome = NSH_DEMO_FIXED,
		.commits = {"Initial scaffold: invoice lines and the tax table",
			    "Add the customer ledger and invoice assembly",
			    "Add tests for invoices and tax", "Test the ledger's currency handling",
			    "README: how to run the tests, who owns billing"},
	},
	{
		.name = "notifications",
		.version = "1.3.2",
		.summary = "Picks recipients per channel and builds daily digests",
		.owner = "messaging",
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.usage = "light",
		.apis = "contains, pluck, called as lodash.contains and lodash.pluck",
		.outcome = NSH_DEMO_FIXED,
		.commits = {"Initial scaffold: notification channels", "Add daily digests",
			    "Add tests", "README: running the tests"},
	},
	{
		.name = "user-profiles",
		.version = "2.3.1",
		.summary = "Public profile directory and merging of linked logins",
		.owner = "identity",
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.transitive = true,
		.usage = "light",
		.apis = "through @demo-org/utils: padLeft, indexBy, uniq(a, fn), pluck",
		.outcome = NSH_DEMO_FIXED,
		.note = "the lodash calls live in vendor/demo-utils, which the rewrite must "
			"cover along with its package.json",
		.commits = {"Initial scaffold: profile directory on @demo-org/utils",
			    "Merge linked logins per e-mail address", "Add tests",
			    "README: running the tests"},
	},
	{
		.name = "feature-flags",
		.version = "1.8.0",
		.summary = "Evaluates feature flags and their targeting rules",
		.owner = "platform",
		.lodash_range = "^3.10.0",
		.lockfile_version = 2,
		.usage = "medium",
		.apis = "_[op] with operator names from stored rules (contains, any, all), "
			"contains, all, indexBy",
		.outcome = NSH_DEMO_HUMAN,
		.note = "rules name lodash predicates in stored data (config/flags.json, "
			"test/fixtures/flags-2015.json and the admin UI's database); 'contains', "
			"'any' and 'all' are gone in lodash 4, so after any rewrite of the calls the "
			"tests 'the flags shipped in config/flags.json evaluate as before', 'rule "
			"sets saved by the 2015 admin UI still evaluate' and 'collection operators "
			"keep their stored names' fail; a person must choose between migrating the "
			"stored rules and mapping the old operator names",
		.commits = {"Initial scaffold: targeting rules and the shipped flags",
			    "Add flag sets with allow lists",
			    "Add tests, including rules saved by the 2015 admin UI",
			    "README: running the tests"},
	},
	{
		.name = "pricing",
		.version = "3.2.0",
		.summary = "Volume tiers, partner offers and quotes",
		.owner = "payments",
		.lodash_range = "~3.10.1",
		.lockfile_version = 3,
		.usage = "medium",
		.apis = "extend on objects with inherited properties, clone(x, true), "
			"min(c, 'p'), sortByOrder, padLeft",
		.outcome = NSH_DEMO_ALTERNATIVE,
		.note = "_.extend survives in lodash 4 as assignIn and now copies inherited "
			"properties: keeping it fails 'the snapshot for the order service holds "
			"only the quote fields and the total'; _.assign passes",
		.commits = {"Initial scaffold: quotes and volume tiers",
			    "Add partner offers and price labels", "Add pricing tests",
			    "Test the order service snapshot", "README: running the tests"},
	},
	{
		.name = "auth-sessions",
		.version = "4.0.3",
		.summary = "Login sessions, scopes and session replicas",
		.owner = "identity",
		.lodash_range = "3.10.1",
		.lockfile_version = 3,
		.critical = true,
		.usage = "medium",
		.apis = "omit(o, fn), max(c, 'p'), sample(c, n), rest, any, findWhere, where",
		.outcome = NSH_DEMO_FIXED,
		.commits = {"Initial scaffold: session store",
			    "Add scope parsing and session replicas", "Add session store tests",
			    "Add scope tests", "README: ownership and tests"},
	},
	{
		.name = "inventory",
		.version = "3.1.0",
		.summary = "Stock levels, bin locations and reorder plans",
		.owner = "fulfilment",
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.lockfile_drift = true,
		.usage = "heavy",
		.apis = "_(c).forEach(fn).value(), require('lodash/array/chunk'), "
			"flatten(a, true), sum(c, 'p'), max(c, 'p'), min(c, 'p'), where, pluck, "
			"pairs, object(keys, values), indexBy",
		.outcome = NSH_DEMO_FIXED,
		.note = "package-lock.json still resolves lodash 3.9.3 from before package.json "
			"moved to ^3.10.1: 'npm ci' refuses it, 'npm install' repairs it",
		.commits = {"Initial scaffold: stock levels", "Add bin locations and pick lists",
			    "Add stock tests", "Add reorder plans", "README: running the tests"},
	},
	{
		.name = "search",
		.version = "0.9.4",
		.summary = "Query normalisation and ranking for the shop search",
		.owner = "discovery",
		.lodash_range = "^3.5.0",
		.lockfile_version = 1,
		.usage = "medium",
		.apis = "contains on an object and on strings, uniq(a, 'p'), sortByOrder, trunc",
		.outcome = NSH_DEMO_FIXED,
		.note = "_.contains is used on an object (its values) and on strings: _.includes "
			"is right, a native .includes fails 'canonical terms are recognised, "
			"aliases are not'",
		.commits = {"Initial scaffold: query terms and aliases", "Add ranking and snippets",
			    "Add tests", "README: running the tests"},
	},
	{
		.name = "reporting",
		.version = "1.12.0",
		.summary = "Sales aggregates and the weekly plain-text report",
		.owner = "data",
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.usage = "heavy",
		.apis = "require('lodash/collection/groupBy'), sum(c, 'p'), max(c, 'p'), "
			"min(c, fn), pairs, object(pairs), foldl, trunc, padLeft, padRight, rest, "
			"sortByOrder",
		.outcome = NSH_DEMO_FIXED,
		.commits = {"Initial scaffold: sales aggregates", "Add plain-text tables",
			    "Add aggregate tests", "Add the weekly report",
			    "README: running the tests"},
	},
	{
		.name = "catalog",
		.version = "2.0.5",
		.summary = "Product records and the category tree",
		.owner = "discovery",
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.transitive = true,
		.usage = "light",
		.apis = "through @demo-org/utils: trunc, zipObject(pairs), contains, "
			"uniq(a, 'p'), flatten(a, true)",
		.outcome = NSH_DEMO_FIXED,
		.note = "the lodash calls live in vendor/demo-utils",
		.commits = {"Initial scaffold: product records on @demo-org/utils",
			    "Add the category tree", "Add tests", "README: running the tests"},
	},
	{
		.name = "shipping",
		.version = "1.6.1",
		.summary = "Parcel weights, carrier quotes and return labels",
		.owner = "fulfilment",
		.lodash_range = "^3.10.1",
		.lockfile_version = 2,
		.usage = "medium",
		.apis = "require('lodash/collection/sortBy'), clone(x, true), min(c, 'p'), "
			"inject, select, detect, rest",
		.outcome = NSH_DEMO_FIXED,
		.commits = {"Initial scaffold: parcel weights",
			    "Add carrier quotes and return labels", "Add parcel tests",
			    "Add rate tests", "README: running the tests"},
	},
	{
		.name = "audit-log",
		.version = "1.0.2",
		.summary = "Append-only audit trail and compliance export",
		.owner = NULL,
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.usage = "light",
		.apis = "unique, pluck, destructured: const { pluck, unique } = "
			"require('lodash')",
		.outcome = NSH_DEMO_FIXED,
		.commits = {"Initial scaffold: audit trail", "Add tests",
			    "README: running the tests"},
	},
	{
		.name = "email-templates",
		.version = "2.2.0",
		.summary = "Renders the welcome and receipt e-mails",
		.owner = "messaging",
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.usage = "medium",
		.apis = "trimLeft, trimRight, compose, collect, methods, capitalize on "
			"lower-case words (unchanged result), template, escape",
		.outcome = NSH_DEMO_FIXED,
		.commits = {"Initial scaffold: template rendering", "Add welcome and receipt mails",
			    "Add tests", "README: running the tests"},
	},
	{
		.name = "rate-limiter",
		.version = "0.4.0",
		.summary = "Fixed-window rate limits per client and route",
		.owner = NULL,
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.usage = "light",
		.apis = "get, defaults, filter, keys, sortBy (none changed in lodash 4)",
		.outcome = NSH_DEMO_UNCHANGED,
		.note = "a control: the right change is the version bump alone, no code edit",
		.commits = {"Initial scaffold: fixed-window limiter", "Add tests",
			    "README: running the tests"},
	},
	{
		.name = "geo",
		.version = "1.1.3",
		.summary = "Distances, delivery regions and hub lookup",
		.owner = NULL,
		.lodash_range = "^3.10.1",
		.lockfile_version = 3,
		.transitive = true,
		.usage = "light",
		.apis = "through @demo-org/utils: max(c, 'p'), indexBy, zipObject(pairs)",
		.outcome = NSH_DEMO_FIXED,
		.note = "the lodash calls live in vendor/demo-utils",
		.commits = {"Initial scaffold: great-circle distance",
			    "Add delivery regions and hub lookup", "Add tests",
			    "README: running the tests"},
	},
};

size_t nsh_demo_count(void)
{
	return NSH_DEMO_SERVICES;
}

const struct nsh_demo_service *nsh_demo_get(size_t i)
{
	return i < NSH_DEMO_SERVICES ? &nsh_demo_services[i] : NULL;
}

const char *nsh_demo_outcome_name(enum nsh_demo_outcome o)
{
	switch (o) {
	case NSH_DEMO_FIXED:
		return "fixed";
	case NSH_DEMO_ALTERNATIVE:
		return "alternative";
	case NSH_DEMO_HUMAN:
		return "human";
	case NSH_DEMO_UNCHANGED:
		return "unchanged";
	}
	return "unknown";
}
