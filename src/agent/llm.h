/*
 * Language-model providers: the settings, a provider-neutral conversation,
 * the two wire codecs (OpenAI Chat Completions and Anthropic Messages, with
 * and without streaming) and a client that sends one turn over libcurl with
 * the official SDKs' retry policy. docs/agents.md has the user's view.
 *
 * One conversation model serves both wire formats. A tool call is
 * {id, name, args}, args being the JSON text of the arguments as the model
 * wrote it (OpenAI's "arguments" string, Anthropic's "input" object
 * serialised); provider ids are kept verbatim. The codecs turn it into each
 * provider's documented request shape (research/integrations.md part B):
 * OpenAI's separate "tool" messages, Anthropic's tool_result blocks first
 * in the next user message, strict user/assistant alternation, and prompt
 * caching breakpoints on the stable prefix (tools, system, newest turn).
 *
 * Decoders treat provider bytes as untrusted: bounded JSON, a malformed
 * reply is an error that names the field, and the defensive rules of local
 * servers are applied (tool calls win over finish_reason, arguments as a
 * string or an object, missing ids assigned, missing usage tolerated).
 *
 * Thread rules: settings are read-only once loaded and may be shared. A
 * client (struct nsh_llm) belongs to one thread at a time; different
 * clients may run concurrently. Conversations and replies belong to one
 * thread at a time.
 */
#ifndef NSH_AGENT_LLM_H
#define NSH_AGENT_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"

struct nsh_config;
struct nsh_err;
struct nsh_redactor;

/* ---- settings ---- */

enum nsh_llm_api {
	NSH_LLM_OPENAI, /* Chat Completions: OpenAI, Ollama, llama.cpp, vLLM, LM Studio, Bedrock */
	NSH_LLM_ANTHROPIC, /* Messages API, anthropic-version 2023-06-01 */
};

#define NSH_LLM_ANTHROPIC_VERSION "2023-06-01" /* pinned: the long-standing version */
#define NSH_LLM_RESPONSE_MAX	  (8u << 20)   /* default cap on one response body */
#define NSH_LLM_LINE_MAX	  (1u << 20)   /* longest SSE line accepted */
#define NSH_LLM_CALLS_MAX	  64	       /* tool calls in one reply */
#define NSH_LLM_BLOCKS_MAX	  256	       /* content blocks in one streamed reply */

/* Prices in US dollars per million tokens; negative when unknown. */
struct nsh_llm_price {
	double input;	    /* uncached input */
	double output;	    /* output (reasoning included) */
	double cache_read;  /* input read from the prompt cache */
	double cache_write; /* input written to the prompt cache */
};

struct nsh_llm_settings {
	enum nsh_llm_api api;
	char *url;		    /* base URL up to and including "/v1" (or a full endpoint) */
	char *model;		    /* model name sent in every request */
	char *key;		    /* API key, NULL for none (local servers) */
	int64_t connect_timeout_ms; /* TCP and TLS set-up */
	int64_t timeout_ms;	    /* one whole request */
	int64_t idle_timeout_ms;    /* no byte received for this long */
	size_t response_max;	    /* cap on one response body */
	int max_retries;	    /* retries after the first attempt */
	int64_t retry_base_ms;	    /* first backoff delay (doubles, at most 16 times it) */
	int max_tokens;		    /* cap on one reply's output tokens */
	bool use_max_tokens;	    /* OpenAI: send "max_tokens", not "max_completion_tokens" */
	bool stream;		    /* stream replies (SSE) */
	int64_t context_tokens;	    /* the model's context window */
	struct nsh_llm_price price; /* for this model */
	int64_t budget_tokens;	    /* per task; 0: none */
	double budget_cost;	    /* per task in USD; 0: none */
	char *record_dir;	    /* NIGHTSHIFT_LLM_RECORD: record exchanges there; NULL: off */
};

/**
 * Read the [llm] settings of @cfg (the environment's NIGHTSHIFT_LLM_* win)
 * into @ret, which the caller releases with nsh_llm_settings_release().
 * Keys: api (openai|anthropic), url, model, key, timeout, connect_timeout,
 * idle_timeout, retries, retry_base, max_tokens, max_tokens_field, stream,
 * context_tokens, response_max, budget_tokens, budget_cost, record, and
 * prices price_input/price_output/price_cache_read/price_cache_write, which
 * [prices] MODEL.input (.output, .cache_read, .cache_write) override per
 * model. NSH_ENOTFOUND when no model is configured, with a message naming
 * every variable to set; NSH_EINVAL naming a bad value.
 */
int nsh_llm_settings_load(const struct nsh_config *cfg, struct nsh_llm_settings *ret,
			  struct nsh_err *err);

/** Fill @s with the defaults (no url, model or key). Release with nsh_llm_settings_release(). */
void nsh_llm_settings_init(struct nsh_llm_settings *s);

/** Free the strings of @s. NULL ok. */
void nsh_llm_settings_release(struct nsh_llm_settings *s);

/** "openai" or "anthropic". */
const char *nsh_llm_api_name(enum nsh_llm_api api);

/* ---- the conversation ---- */

enum nsh_llm_role {
	NSH_LLM_USER,	   /* the task, steering, answers */
	NSH_LLM_ASSISTANT, /* the model's turn: text and tool calls */
	NSH_LLM_TOOL,	   /* the result of one tool call */
};

struct nsh_llm_call {
	char *id;   /* the provider's id, verbatim; assigned when it sent none */
	char *name; /* tool name */
	char *args; /* JSON text of the arguments as written (may be invalid JSON) */
};

struct nsh_llm_msg {
	enum nsh_llm_role role;
	char *text;		    /* text, or a tool's output; NULL for none */
	struct nsh_llm_call *calls; /* assistant: tool calls, in order */
	size_t ncalls;		    /* calls in use */
	char *call_id;		    /* tool: the call it answers */
	char *name;		    /* tool: the tool's name */
	bool is_error;		    /* tool: the call failed */
	bool masked;		    /* tool: the output was replaced by a short note */
};

struct nsh_llm_conv {
	char *system;		/* system prompt (the stable prefix) */
	struct nsh_llm_msg *v;	/* messages, oldest first */
	size_t nr;		/* messages in use */
	size_t alloc;		/* messages allocated */
	int64_t last_input;	/* input tokens the provider counted for the newest turn */
	size_t last_input_msgs; /* messages that turn covered */
};

void nsh_llm_conv_init(struct nsh_llm_conv *c);
/** Free every message and the system prompt. NULL ok. */
void nsh_llm_conv_release(struct nsh_llm_conv *c);
/** Append a user message (copied). */
void nsh_llm_conv_add_user(struct nsh_llm_conv *c, const char *text);
/**
 * Append an assistant turn: @text (may be NULL) and copies of @n calls.
 * Returns the new message (owned by @c; valid until the next append).
 */
struct nsh_llm_msg *nsh_llm_conv_add_assistant(struct nsh_llm_conv *c, const char *text,
					       const struct nsh_llm_call *calls, size_t n);
/** Append the result of call @call_id of tool @name (copied). */
void nsh_llm_conv_add_tool(struct nsh_llm_conv *c, const char *call_id, const char *name,
			   const char *text, bool is_error);

/**
 * Make @c valid for any provider after an interruption: every tool call of
 * an assistant turn that has no result (a crash or a cancel between the
 * call and its result) gets a synthetic error result saying so, placed
 * right after the turn's other results. Returns how many were added.
 */
size_t nsh_llm_conv_repair(struct nsh_llm_conv *c);

/**
 * Serialise @c (provider-neutral, for saving a session) as a new JSON
 * object, and read one back into @ret (caller-initialised). Loading checks
 * types and sizes and names the offending field (NSH_EINVAL).
 */
json_t *nsh_llm_conv_to_json(const struct nsh_llm_conv *c);
int nsh_llm_conv_from_json(const json_t *j, struct nsh_llm_conv *ret, struct nsh_err *err);

/** A rough token count of @c (bytes / 4, calibrated by the provider's last count). */
int64_t nsh_llm_conv_tokens(const struct nsh_llm_conv *c);

/* ---- requests and replies ---- */

/* A tool offered to the model. */
struct nsh_llm_tool {
	const char *name;	 /* [a-z_]+ */
	const char *description; /* what it does, for the model */
	const char *schema;	 /* JSON schema of the arguments (an object schema) */
};

struct nsh_llm_request {
	const struct nsh_llm_conv *conv;  /* the conversation so far */
	const struct nsh_llm_tool *tools; /* offered tools */
	size_t ntools;			  /* entries in @tools; 0 offers none */
};

struct nsh_llm_usage {
	int64_t input;	     /* input tokens not read from or written to the cache */
	int64_t output;	     /* output tokens */
	int64_t cache_read;  /* input tokens read from the prompt cache */
	int64_t cache_write; /* input tokens written to the prompt cache */
};

enum nsh_llm_stop {
	NSH_LLM_STOP_END,	 /* the model finished its turn */
	NSH_LLM_STOP_TOOL_USE,	 /* it wants tool results */
	NSH_LLM_STOP_MAX_TOKENS, /* cut at the output cap */
	NSH_LLM_STOP_REFUSAL,	 /* refused, or a content filter stopped it */
	NSH_LLM_STOP_OTHER,	 /* anything else (stop_raw says what) */
};

struct nsh_llm_reply {
	char *id;		    /* the provider's response id, or NULL */
	char *model;		    /* the model that answered, or NULL */
	char *text;		    /* text of the turn, or NULL */
	struct nsh_llm_call *calls; /* tool calls, in order */
	size_t ncalls;		    /* calls in use */
	size_t alloc;		    /* calls allocated */
	enum nsh_llm_stop stop;	    /* why the turn ended */
	char *stop_raw;		    /* the provider's own word for it, or NULL */
	struct nsh_llm_usage usage; /* tokens of this turn */
	bool usage_known;	    /* the provider reported usage */
};

/** Free the contents of @r and zero it. NULL ok. */
void nsh_llm_reply_release(struct nsh_llm_reply *r);

/** Add @u to @sum. */
void nsh_llm_usage_add(struct nsh_llm_usage *sum, const struct nsh_llm_usage *u);
/** All tokens of @u. */
int64_t nsh_llm_usage_total(const struct nsh_llm_usage *u);
/** The cost of @u in US dollars at @p (unknown prices count as 0). */
double nsh_llm_usage_cost(const struct nsh_llm_usage *u, const struct nsh_llm_price *p);
/** @u as a JSON object {input, output, cache_read, cache_write, total}. New reference. */
json_t *nsh_llm_usage_to_json(const struct nsh_llm_usage *u);

/* An error reported by the provider, parsed from its error body. */
struct nsh_llm_error {
	char *type;    /* "rate_limit_error", "server_error", ... or NULL */
	char *code;    /* OpenAI's code ("insufficient_quota") or Anthropic's details, or NULL */
	char *message; /* the provider's message, or NULL */
};

void nsh_llm_error_release(struct nsh_llm_error *e);

/**
 * Parse a provider error body (OpenAI {"error":{message,type,code}},
 * Anthropic {"type":"error","error":{type,message,details}}) into @ret.
 * Returns false (and leaves @ret empty) when @body is not one.
 */
bool nsh_llm_error_parse(const char *body, size_t len, struct nsh_llm_error *ret);

/**
 * Whether a failed request is retried, as the official SDKs decide:
 * @status 0 (connection error or timeout), 408, 409, 429 and >= 500 are,
 * unless @should_retry ("x-should-retry", may be NULL) says "false" or the
 * error is a quota or spend limit (insufficient_quota,
 * enforced_spend_limit_reached, billing_error), which never is;
 * "x-should-retry: true" forces a retry.
 */
bool nsh_llm_retryable(int status, const char *should_retry, const struct nsh_llm_error *e);

/**
 * The delay before retry number @attempt (0 first): "retry-after-ms"
 * (milliseconds) or "retry-after" (seconds or an HTTP date) when between 0
 * and 60 s exclusive of 0, else min(@base_ms * 2^attempt, 16 * @base_ms)
 * scaled by 1 - 0.25 * @jitter (@jitter in [0, 1)). Either header may be NULL.
 */
int64_t nsh_llm_retry_delay_ms(int attempt, const char *retry_after_ms, const char *retry_after,
			       int64_t base_ms, double jitter, int64_t now_ms);

/* ---- codecs (exposed for tests and fuzzing) ---- */

/**
 * The request body for @rq in @api's wire format, as a new JSON object:
 * @model, the output cap @max_tokens, @stream. Tool arguments that are not
 * a JSON object are sent to Anthropic as {} (its "input" must be an
 * object); OpenAI gets the text as written. Never fails for a valid
 * conversation; NSH_EINVAL for a tool whose schema is not JSON.
 */
int nsh_llm_encode(enum nsh_llm_api api, const struct nsh_llm_request *rq, const char *model,
		   int max_tokens, bool use_max_tokens, bool stream, json_t **ret,
		   struct nsh_err *err);

/**
 * Decode a complete (non-streamed) 2xx response body into @ret (zeroed by
 * the caller). NSH_EINVAL "malformed response: ..." naming what was wrong
 * (not JSON, a missing or mistyped field); NSH_EFAIL with the provider's
 * message when the body is an error object.
 */
int nsh_llm_decode(enum nsh_llm_api api, const char *body, size_t len, struct nsh_llm_reply *ret,
		   struct nsh_err *err);

/* A streamed reply being assembled from server-sent events. */
struct nsh_llm_stream;

/** A new stream decoder for @api. Free with nsh_llm_stream_free(). */
struct nsh_llm_stream *nsh_llm_stream_new(enum nsh_llm_api api);
void nsh_llm_stream_free(struct nsh_llm_stream *s);

/**
 * Feed @len bytes of the response body. Errors are final: NSH_EINVAL for
 * a malformed event or an over-long line, NSH_EFAIL for an error event
 * from the provider (its type is kept, see nsh_llm_stream_error()).
 */
int nsh_llm_stream_feed(struct nsh_llm_stream *s, const char *p, size_t len, struct nsh_err *err);

/**
 * End of the body: move the assembled reply into @ret (zeroed by the
 * caller). NSH_EINVAL when the stream ended before the reply was complete
 * (no [DONE] / message_stop and no finish reason).
 */
int nsh_llm_stream_finish(struct nsh_llm_stream *s, struct nsh_llm_reply *ret, struct nsh_err *err);

/** Whether the stream already produced text or tool-call content. */
bool nsh_llm_stream_started(const struct nsh_llm_stream *s);

/** The provider error an error event carried (borrowed), or NULL. */
const struct nsh_llm_error *nsh_llm_stream_error(const struct nsh_llm_stream *s);

/* ---- server-sent events ---- */

/** Called for each complete event; @event is "" when the event had no "event:" field. */
typedef int nsh_sse_fn(const char *event, const char *data, size_t len, void *ctx,
		       struct nsh_err *err);

struct nsh_sse {
	struct nsh_buf line;  /* the line being read */
	struct nsh_buf data;  /* data lines of the event being read */
	struct nsh_buf event; /* its event name */
	bool cr;	      /* the last byte was '\r' (a following '\n' belongs to it) */
	bool has_data;	      /* a data field was seen */
	nsh_sse_fn *fn;	      /* receives the events */
	void *ctx;	      /* for @fn */
};

/** Initialise @p to hand events to @fn; lines are capped at NSH_LLM_LINE_MAX. */
void nsh_sse_init(struct nsh_sse *p, nsh_sse_fn *fn, void *ctx);
void nsh_sse_release(struct nsh_sse *p);
/**
 * Parse @len more bytes (the WHATWG event-stream rules: CR, LF or CRLF line
 * ends, "data:" lines joined with '\n', a blank line dispatches, ':'
 * comments and unknown fields ignored). Returns the first non-zero return of
 * the callback, or NSH_ETOOBIG for a line past the cap.
 */
int nsh_sse_feed(struct nsh_sse *p, const char *buf, size_t len, struct nsh_err *err);
/** End of input: dispatch a pending event that lacked its blank line. */
int nsh_sse_finish(struct nsh_sse *p, struct nsh_err *err);

/* ---- the client ---- */

struct nsh_llm;

/* Counters of one client, for reports and tests. */
struct nsh_llm_stats {
	int64_t requests;	    /* HTTP requests sent, retries included */
	int64_t retries;	    /* of which retries */
	int64_t http_ns;	    /* wall time inside HTTP exchanges */
	struct nsh_llm_usage usage; /* tokens of every successful turn */
};

/**
 * A client for @s (borrowed; must outlive it). @redactor (may be NULL,
 * borrowed) is applied to everything recorded. @record_name names this
 * client's recording (e.g. "t-1a2b3c-code"); NULL for a generated one.
 */
int nsh_llm_new(const struct nsh_llm_settings *s, const struct nsh_redactor *redactor,
		const char *record_name, struct nsh_llm **ret, struct nsh_err *err);

/** Free a client (and finish its recording). NULL ok. */
void nsh_llm_free(struct nsh_llm *c);

/**
 * Send one turn and wait for the reply, retrying as nsh_llm_retryable()
 * says with nsh_llm_retry_delay_ms() between attempts (a streamed reply cut
 * half-way is sent again as a whole). @cancel (may be NULL) is polled while
 * waiting and ends the call with NSH_ECONFLICT when it returns true.
 * Errors name the provider and what happened: "openai: HTTP 401
 * (authentication_error): ..."; "openai: quota exhausted (insufficient_quota):
 * ..., not retried"; "anthropic: malformed response: missing field
 * 'content'"; "openai: request timed out after 30s (3 attempts)";
 * NSH_ETOOBIG for a response over the cap.
 */
int nsh_llm_send(struct nsh_llm *c, const struct nsh_llm_request *rq, struct nsh_llm_reply *ret,
		 bool (*cancel)(void *ctx), void *cancel_ctx, struct nsh_err *err);

/** The client's counters so far. */
void nsh_llm_get_stats(const struct nsh_llm *c, struct nsh_llm_stats *ret);

/** The settings of @c (borrowed). */
const struct nsh_llm_settings *nsh_llm_settings(const struct nsh_llm *c);

#endif
