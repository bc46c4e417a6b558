/*
 * Internals of src/agent shared between its files; no other module
 * includes this.
 */
#ifndef NSH_AGENT_AGENT_INT_H
#define NSH_AGENT_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/llm.h"
#include "core/buf.h"

struct nsh_err;

/* Nesting cap for provider JSON (replies, events, tool arguments). */
#define LLM_JSON_DEPTH 48

/* ---- replies (codec.c) ---- */

/** Append a call to @r (strings copied; @args NULL means "{}"). NSH_ETOOBIG past NSH_LLM_CALLS_MAX.
 */
int llm_reply_add_call(struct nsh_llm_reply *r, const char *id, const char *name, const char *args,
		       struct nsh_err *err);

/** Give calls without an id (or with a duplicate one) an id of their own. */
void llm_reply_fix_ids(struct nsh_llm_reply *r);

/** Append @len bytes of text to the reply's text. */
void llm_reply_add_text(struct nsh_llm_reply *r, const char *s, size_t len);

/** Parse provider JSON with the reply caps; errors say "malformed response: ...". */
int llm_json_parse(const char *p, size_t len, size_t max, json_t **ret, struct nsh_err *err);

/** A copy of the string at @path, or NULL when absent, null or not a string. */
char *llm_json_strdup(const json_t *root, const char *path);

/* ---- the two wire formats (openai.c, anthropic.c) ---- */

int llm_openai_encode(const struct nsh_llm_request *rq, const char *model, int max_tokens,
		      bool use_max_tokens, bool stream, json_t **ret, struct nsh_err *err);
int llm_openai_decode(const json_t *root, struct nsh_llm_reply *ret, struct nsh_err *err);
int llm_anthropic_encode(const struct nsh_llm_request *rq, const char *model, int max_tokens,
			 bool stream, json_t **ret, struct nsh_err *err);
int llm_anthropic_decode(const json_t *root, struct nsh_llm_reply *ret, struct nsh_err *err);

/* A tool call being streamed in pieces. */
struct llm_part {
	long index;	     /* the provider's index of the call or block */
	int kind;	     /* PART_TEXT, PART_TOOL, PART_OTHER */
	char *id;	     /* call id, or NULL */
	char *name;	     /* tool name, or NULL */
	struct nsh_buf args; /* argument text so far */
	bool args_obj;	     /* Anthropic: the start block had a non-empty input object */
	bool closed;	     /* content_block_stop seen */
};

enum { PART_TEXT, PART_TOOL, PART_OTHER };

struct nsh_llm_stream {
	enum nsh_llm_api api;
	struct nsh_sse sse;	    /* the event parser */
	struct nsh_llm_reply reply; /* text, stop, usage, id, model */
	struct llm_part *parts;	    /* tool calls (OpenAI) or content blocks (Anthropic) */
	size_t nparts;
	size_t alloc;
	bool done;     /* [DONE] or message_stop seen */
	bool finished; /* a finish reason / stop reason seen */
	bool started;  /* text or tool content arrived */
	bool failed; /* an error event arrived, or a malformed one: all further input is ignored */
	struct nsh_llm_error error; /* from an error event */
	bool has_error;		    /* @error is set */
};

int llm_openai_event(struct nsh_llm_stream *s, const char *event, const char *data, size_t len,
		     struct nsh_err *err);
int llm_anthropic_event(struct nsh_llm_stream *s, const char *event, const char *data, size_t len,
			struct nsh_err *err);

/** The part with provider index @index, created (of @kind) when new. NULL past the cap. */
struct llm_part *llm_stream_part(struct nsh_llm_stream *s, long index, int kind);

/** Fill @e from a provider error object (OpenAI's "error" or Anthropic's "error"). */
void llm_error_from_obj(const json_t *o, struct nsh_llm_error *e);

/** The provider's error as an nsh_err: "provider error (type, code): message". */
int llm_error_set(struct nsh_err *err, int code, const struct nsh_llm_error *e);

/* ---- recording exchanges as scenario files (record.c) ---- */

struct llm_recorder;

/**
 * Start recording into "@dir/@name.json" (@name NULL: a generated one).
 * @endpoint is the URL requests go to (its path is recorded). @redactor
 * (may be NULL) is applied to the whole file. The directory is created.
 */
int llm_recorder_open(const char *dir, const char *name, const char *endpoint, enum nsh_llm_api api,
		      const struct nsh_redactor *redactor, struct llm_recorder **ret,
		      struct nsh_err *err);

/**
 * Add one exchange and rewrite the file: the request body @request, the
 * HTTP @status (0: no response), the retry headers, and the response @body
 * (an event stream when @sse). Failures to write are logged at debug and
 * otherwise ignored: recording never fails a turn.
 */
void llm_recorder_add(struct llm_recorder *rec, const json_t *request, int status,
		      const char *retry_after_ms, const char *retry_after,
		      const struct nsh_buf *body, bool sse);

/** Stop recording and free @rec. NULL ok. */
void llm_recorder_close(struct llm_recorder *rec);

#endif
