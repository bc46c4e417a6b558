/*
 * The structural matcher of the recipe engine: lexers that classify every
 * byte of a source file as code, string, comment or regular expression and
 * pair its brackets, and patterns (a match template with holes and an
 * optional rewrite template) that find and rewrite code in a lexed file.
 *
 * The template language is documented for users in docs/recipes.md; in
 * short: ":[x]" matches balanced text (lazy, may be empty), ":[x:arg]" one
 * non-empty argument (no top-level comma), ":[[x]]" one word, ":[_]" any
 * balanced text without binding. A hole used twice must match the same
 * text. In code, template whitespace is insignificant; matches start only in
 * code and never split a string, comment or regular expression literal.
 *
 * Thread rules: a compiled pattern is read-only after compilation and may be
 * shared between threads; a lexer state belongs to one thread.
 */
#ifndef NSH_RECIPE_MATCH_H
#define NSH_RECIPE_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_buf;
struct nsh_err;
struct nsh_strvec;
struct nsh_recipe_where;

/* Lexer families: each language a rule names is lexed by one of these. */
enum nsh_recipe_family {
	NSH_RECIPE_FAM_TEXT,   /* no strings or comments: every byte is code */
	NSH_RECIPE_FAM_JS,     /* JavaScript, TypeScript */
	NSH_RECIPE_FAM_PYTHON, /* Python */
	NSH_RECIPE_FAM_GO,     /* Go */
	NSH_RECIPE_FAM_JAVA,   /* Java */
	NSH_RECIPE_FAM_C,      /* C, C++, C# and other C-like files */
	NSH_RECIPE_FAM_COUNT,
};

/* What a byte of a lexed file is. */
enum nsh_recipe_cls {
	NSH_RECIPE_CLS_CODE = 0,
	NSH_RECIPE_CLS_STRING = 1,
	NSH_RECIPE_CLS_COMMENT = 2,
	NSH_RECIPE_CLS_REGEX = 3,
};

/* Where a rule's template is matched. */
enum nsh_recipe_in {
	NSH_RECIPE_IN_CODE,    /* code (the default) */
	NSH_RECIPE_IN_STRING,  /* the whole body of a string literal */
	NSH_RECIPE_IN_COMMENT, /* any part of a comment */
};

#define NSH_RECIPE_NONE		UINT32_MAX  /* no position */
#define NSH_RECIPE_TEXT_MAX	(64u << 20) /* largest text the lexer accepts */
#define NSH_RECIPE_TEMPLATE_MAX (4u << 10)  /* longest match or rewrite template */

/* One string, comment or regex literal, as byte offsets into the text. */
struct nsh_recipe_span {
	uint32_t start;	     /* first byte (a quote, a prefix such as r", or the comment opener) */
	uint32_t end;	     /* one past the last byte */
	uint32_t body_start; /* first byte between the delimiters */
	uint32_t body_end;   /* one past the last byte between the delimiters */
	uint8_t cls;	     /* enum nsh_recipe_cls, never CODE */
};

/*
 * A lexed text. The arrays are reused by later runs of the same state, so
 * one state can lex many files without reallocating.
 */
struct nsh_recipe_lex {
	enum nsh_recipe_family fam; /* the family used */
	const char *text;	    /* borrowed: the text lexed, @len bytes */
	size_t len;		    /* bytes of text */
	uint8_t *cls;		    /* len entries: enum nsh_recipe_cls of each byte */
	/*
	 * len entries: at an opening bracket in code, the offset of its
	 * closing bracket; at the first byte of a span, the span's end; else
	 * NSH_RECIPE_NONE (also for a bracket without a partner).
	 */
	uint32_t *jump;
	struct nsh_recipe_span *spans; /* every span, sorted by start (nested ones too) */
	size_t nspans;		       /* spans in use */
	size_t cap;		       /* entries allocated in cls and jump */
	size_t spans_alloc;	       /* entries allocated in spans */
	bool crlf;		       /* the first line ends with "\r\n" */
};

/** Initialise caller storage as an empty state. */
void nsh_recipe_lex_init(struct nsh_recipe_lex *lx);

/** Free the arrays. NULL ok. */
void nsh_recipe_lex_release(struct nsh_recipe_lex *lx);

/**
 * Lex @len bytes of @text (borrowed; must outlive the use of @lx) with the
 * lexer of @fam. Never fails on malformed input: an unterminated literal
 * runs to the end of its line or of the text, a bracket without a partner
 * gets NSH_RECIPE_NONE. NSH_ETOOBIG beyond NSH_RECIPE_TEXT_MAX.
 */
int nsh_recipe_lex_run(struct nsh_recipe_lex *lx, enum nsh_recipe_family fam, const char *text,
		       size_t len, struct nsh_err *err);

/** The span that starts exactly at @pos, or NULL. */
const struct nsh_recipe_span *nsh_recipe_lex_span_at(const struct nsh_recipe_lex *lx, size_t pos);

/* A compiled pattern (opaque). */
struct nsh_recipe_pattern;

/**
 * Compile the template @match (and @rewrite, NULL for a pattern that only
 * detects) for files of family @fam, matched where @in says, with the hole
 * constraints @where (@nwhere entries; constraints on holes the template
 * does not have are ignored). NSH_EINVAL with a message that names the
 * problem: a malformed or misplaced hole, a hole in the rewrite that the
 * match lacks, a code template starting with a ':[x]' hole, a hole inside a
 * string literal of a code template, brackets the rewrite leaves unbalanced
 * differently from the match, a bad regular expression. *@ret is freed with
 * nsh_recipe_pattern_free().
 */
int nsh_recipe_pattern_compile(const char *match, const char *rewrite, enum nsh_recipe_family fam,
			       enum nsh_recipe_in in, const struct nsh_recipe_where *where,
			       size_t nwhere, struct nsh_recipe_pattern **ret, struct nsh_err *err);

/** Free a pattern. NULL ok. */
void nsh_recipe_pattern_free(struct nsh_recipe_pattern *p);

/**
 * The longest literal every match contains (borrowed, @ret_len bytes), so
 * that a caller can skip a text with memmem(); NULL when there is none.
 */
const char *nsh_recipe_pattern_required(const struct nsh_recipe_pattern *p, size_t *ret_len);

/** True when the template has a hole named @name. */
bool nsh_recipe_pattern_has_hole(const struct nsh_recipe_pattern *p, const char *name);

/** True when the pattern has a rewrite template. */
bool nsh_recipe_pattern_rewrites(const struct nsh_recipe_pattern *p);

/* One match, as offsets into the lexed text and into the output. */
struct nsh_recipe_hit {
	uint32_t start;	    /* first byte matched */
	uint32_t end;	    /* one past the last byte matched */
	uint32_t out_start; /* where its rewrite starts in the output (rewrites only) */
	uint32_t out_end;   /* one past its rewrite in the output */
	uint32_t depth;	    /* 0 for a match in the text, 1+ inside another match's hole */
};

struct nsh_recipe_hits {
	struct nsh_recipe_hit *v; /* in output order: each match after the ones nested in it */
	size_t nr;		  /* hits in use */
	size_t alloc;		  /* entries allocated */
	bool gave_up;		  /* the step budget ran out at some position */
	uint32_t gave_up_at;	  /* the first such position */
};

/** Free the hits. NULL ok. */
void nsh_recipe_hits_release(struct nsh_recipe_hits *h);

/* A per-run constraint: hole @hole must equal one of @values. */
struct nsh_recipe_bound {
	const char *hole;		 /* hole name */
	const struct nsh_strvec *values; /* allowed texts */
};

/**
 * Find every match of @p in the text of @lx, leftmost first and without
 * overlap; inside the holes of a match, further matches are found too (and
 * rewritten before being substituted). Holes named in @bound (@nbound
 * entries) must also equal one of their values.
 *
 * @hits is emptied first and gets every match. When @out is not NULL and
 * the pattern rewrites, @out is emptied and gets the whole rewritten text
 * (a copy of the text when nothing matched); rewrite literals get "\r\n"
 * line ends in a CRLF text. NSH_ETOOBIG when @out's cap is hit. A start
 * position whose matching takes more than the step budget is skipped and
 * noted in @hits (gave_up), and so is the rest of the text once the run's
 * total budget is spent: no input makes this slow.
 */
int nsh_recipe_pattern_run(const struct nsh_recipe_pattern *p, const struct nsh_recipe_lex *lx,
			   const struct nsh_recipe_bound *bound, size_t nbound, struct nsh_buf *out,
			   struct nsh_recipe_hits *hits, struct nsh_err *err);

/* Bits of enum-like "is" classes for hole constraints. */
enum {
	NSH_RECIPE_IS_FUNCTION = 1u << 0,   /* function expression, arrow, lambda */
	NSH_RECIPE_IS_IDENTIFIER = 1u << 1, /* one identifier (not a keyword value) */
	NSH_RECIPE_IS_MEMBER = 1u << 2,	    /* a.b or a.b.c */
	NSH_RECIPE_IS_NUMBER = 1u << 3,	    /* numeric literal, optionally signed */
	NSH_RECIPE_IS_STRING = 1u << 4,	    /* one string literal */
	NSH_RECIPE_IS_REGEX = 1u << 5,	    /* one regular expression literal */
	NSH_RECIPE_IS_BOOLEAN = 1u << 6,    /* true, false (True, False) */
	NSH_RECIPE_IS_NULL = 1u << 7,	    /* null, undefined, None, nil */
	NSH_RECIPE_IS_OBJECT = 1u << 8,	    /* one {...} */
	NSH_RECIPE_IS_ARRAY = 1u << 9,	    /* one [...] */
	NSH_RECIPE_IS_EMPTY = 1u << 10,	    /* nothing at all */
	NSH_RECIPE_IS_LITERAL = NSH_RECIPE_IS_NUMBER | NSH_RECIPE_IS_STRING |
				NSH_RECIPE_IS_BOOLEAN | NSH_RECIPE_IS_NULL,
};

/**
 * Parse an "is" class name ("function", "identifier", ..., "literal") into
 * its bits; 0 when unknown.
 */
unsigned nsh_recipe_is_parse(const char *name);

/** The names of the classes in @bits, space separated, into @out. */
void nsh_recipe_is_names(unsigned bits, struct nsh_buf *out);

/**
 * The classes (bits) of the text [@start, @end) of the lexed text, with
 * surrounding white space ignored.
 */
unsigned nsh_recipe_classify(const struct nsh_recipe_lex *lx, size_t start, size_t end);

#endif
