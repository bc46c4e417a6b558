/*
 * Tests for the provider codecs: request bodies against the documented
 * shapes (golden files written from the providers' API references, see
 * tests/agent/golden/), replies and streams as the providers send them,
 * error bodies, the retry policy, the SSE parser, settings and the
 * conversation's repair and persistence.
 */
#include "agent/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "test.h"

#include "core/banned.h"

/* Calls are copied by the conversation: literals can stand in for their strings. */
#define S(x) ((char *)(x))

static const struct nsh_llm_tool read_tool = {
	"read_file", "Read a file.",
	"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":"
	"[\"path\"]}"};

/* The conversation of the golden files. */
static void golden_conv(struct nsh_llm_conv *c)
{
	struct nsh_llm_call calls[2] = {{S("call_abc"), S("read_file"), S("{\"path\":\"a.c\"}")},
					{S("call_def"), S("read_file"), S("{\"path\":\"b.c\"}")}};

	nsh_llm_conv_init(c);
	c->system = strdup("You are a test.");
	nsh_llm_conv_add_user(c, "Fix issue #42");
	nsh_llm_conv_add_assistant(c, "Reading.", calls, 2);
	nsh_llm_conv_add_tool(c, "call_abc", "read_file", "int main;", false);
	nsh_llm_conv_add_tool(c, "call_def", "read_file", "error: no such file or directory 'b.c'",
			      true);
	nsh_llm_conv_add_user(c, "steer: use tabs");
}

static json_t *load_golden(const char *name)
{
	const char *top = getenv("NSH_TOP");
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	char *path;
	json_t *v = NULL;

	if (asprintf(&path, "%s/tests/agent/golden/%s", top ? top : ".", name) < 0)
		abort();
	if (nsh_fs_read_file(path, &b, 1 << 20, &err) || nsh_json_parse(b.buf, b.len, &v, &err)) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		abort();
	}
	free(path);
	nsh_buf_release(&b);
	return v;
}

static void check_equal_json(json_t *got, json_t *want)
{
	CHECK(json_equal(got, want));
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);

		fprintf(stderr, "got:\n%s\nwant:\n%s\n", g, w);
		free(g);
		free(w);
	}
}

static void test_openai_request_shape(void)
{
	struct nsh_llm_conv c;
	struct nsh_llm_request rq;
	struct nsh_err err = NSH_ERR_INIT;
	json_t *body = NULL, *want = load_golden("openai_request.json");

	golden_conv(&c);
	rq = (struct nsh_llm_request){&c, &read_tool, 1};
	CHECK_INT(nsh_llm_encode(NSH_LLM_OPENAI, &rq, "gpt-x", 4096, false, false, &body, &err), 0);
	check_equal_json(body, want);
	json_decref(body);

	/* streaming asks for the usage chunk; local servers get max_tokens */
	CHECK_INT(nsh_llm_encode(NSH_LLM_OPENAI, &rq, "gpt-x", 100, true, true, &body, &err), 0);
	CHECK(json_is_true(
		json_object_get(json_object_get(body, "stream_options"), "include_usage")));
	CHECK_INT(json_integer_value(json_object_get(body, "max_tokens")), 100);
	CHECK(!json_object_get(body, "max_completion_tokens"));
	json_decref(body);
	json_decref(want);
	nsh_llm_conv_release(&c);
}

static void test_anthropic_request_shape(void)
{
	struct nsh_llm_conv c;
	struct nsh_llm_request rq;
	struct nsh_err err = NSH_ERR_INIT;
	json_t *body = NULL, *want = load_golden("anthropic_request.json");

	golden_conv(&c);
	rq = (struct nsh_llm_request){&c, &read_tool, 1};
	CHECK_INT(
		nsh_llm_encode(NSH_LLM_ANTHROPIC, &rq, "claude-x", 4096, false, false, &body, &err),
		0);
	check_equal_json(body, want);
	json_decref(body);
	json_decref(want);
	nsh_llm_conv_release(&c);
}

/* Count cache_control markers anywhere in @v. */
static int count_cache(json_t *v)
{
	int n = 0;
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, x)
		{
			if (!strcmp(k, "cache_control"))
				n++;
			else
				n += count_cache(x);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) n += count_cache(x);
	}
	return n;
}

static void test_anthropic_alternation_and_fixes(void)
{
	struct nsh_llm_conv c;
	struct nsh_llm_call bad = {S("toolu_1"), S("read_file"), S("{not json")};
	struct nsh_llm_request rq;
	struct nsh_err err = NSH_ERR_INIT;
	json_t *body = NULL, *msgs;
	const char *prev = "";

	nsh_llm_conv_init(&c);
	c.system = strdup("sys");
	/* two user messages in a row, an assistant turn with bad arguments, an empty text */
	nsh_llm_conv_add_user(&c, "one");
	nsh_llm_conv_add_user(&c, "two");
	nsh_llm_conv_add_assistant(&c, "", &bad, 1);
	nsh_llm_conv_add_tool(&c, "toolu_1", "read_file", "", false);
	nsh_llm_conv_add_assistant(&c, NULL, NULL, 0);
	rq = (struct nsh_llm_request){&c, &read_tool, 1};
	CHECK_INT(nsh_llm_encode(NSH_LLM_ANTHROPIC, &rq, "m", 0, false, true, &body, &err), 0);
	msgs = json_object_get(body, "messages");
	CHECK_INT(json_array_size(msgs), 4);
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		const char *role =
			json_string_value(json_object_get(json_array_get(msgs, i), "role"));

		CHECK(strcmp(role, prev) != 0); /* strict alternation */
		prev = role;
	}
	CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "user");
	CHECK_INT(json_array_size(json_object_get(json_array_get(msgs, 0), "content")), 2);
	/* the input of a call with broken arguments is still an object */
	CHECK(json_is_object(json_object_get(
		json_array_get(json_object_get(json_array_get(msgs, 1), "content"), 0), "input")));
	/* an empty tool output is not sent empty */
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(json_array_get(msgs, 2), "content"), 0),
			  "content")),
		  "(no output)");
	CHECK(json_is_true(json_object_get(body, "stream")));
	CHECK(count_cache(body) <= 4);
	CHECK_INT(count_cache(body), 3);
	json_decref(body);
	nsh_llm_conv_release(&c);
}

static const char openai_reply[] =
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1731000000,"
	"\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\","
	"\"logprobs\":null,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":null,"
	"\"tool_calls\":[{\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":"
	"\"read_file\",\"arguments\":\"{\\\"path\\\":\\\"a.c\\\"}\"}}]}}],"
	"\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":30,\"total_tokens\":1230,"
	"\"prompt_tokens_details\":{\"cached_tokens\":1024,\"cache_write_tokens\":0},"
	"\"completion_tokens_details\":{\"reasoning_tokens\":0}}}";

static void test_openai_decode(void)
{
	struct nsh_llm_reply r = {0};
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_llm_decode(NSH_LLM_OPENAI, openai_reply, strlen(openai_reply), &r, &err), 0);
	CHECK_INT(r.ncalls, 1);
	CHECK_STR(r.calls[0].id, "call_abc");
	CHECK_STR(r.calls[0].name, "read_file");
	CHECK_STR(r.calls[0].args, "{\"path\":\"a.c\"}");
	CHECK(r.text == NULL);
	CHECK_INT(r.stop, NSH_LLM_STOP_TOOL_USE);
	/* prompt_tokens includes the cached tokens */
	CHECK_INT(r.usage.input, 176);
	CHECK_INT(r.usage.cache_read, 1024);
	CHECK_INT(r.usage.output, 30);
	CHECK_STR(r.id, "chatcmpl-1");
	nsh_llm_reply_release(&r);
}

static void test_openai_decode_local_quirks(void)
{
	/* Ollama: arguments as an object, no id; finish_reason "stop" with calls */
	static const char body[] =
		"{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"content\":\"\","
		"\"tool_calls\":[{\"function\":{\"name\":\"run\",\"arguments\":{\"command\":"
		"\"ls\"}}},{\"id\":\"x\",\"function\":{\"name\":\"run\",\"arguments\":\"{}\"}},"
		"{\"id\":\"x\",\"function\":{\"name\":\"run\"}}]}}]}";
	struct nsh_llm_reply r = {0};
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_llm_decode(NSH_LLM_OPENAI, body, strlen(body), &r, &err), 0);
	CHECK_INT(r.ncalls, 3);
	CHECK_STR(r.calls[0].args, "{\"command\":\"ls\"}");
	CHECK_STR(r.calls[0].id, "call_nsh_0");
	CHECK_STR(r.calls[1].id, "x");
	CHECK_STR(r.calls[2].id, "call_nsh_2"); /* a duplicate id gets its own */
	CHECK_STR(r.calls[2].args, "{}");
	CHECK_INT(r.stop, NSH_LLM_STOP_TOOL_USE);
	CHECK(!r.usage_known);
	nsh_llm_reply_release(&r);
}

static void test_malformed_named(void)
{
	static const struct {
		enum nsh_llm_api api;
		const char *body;
		const char *says;
	} cases[] = {
		{NSH_LLM_OPENAI, "not json", "invalid json"},
		{NSH_LLM_OPENAI, "[1]", "not a JSON object"},
		{NSH_LLM_OPENAI, "{\"id\":\"x\"}", "'choices'"},
		{NSH_LLM_OPENAI, "{\"choices\":[]}", "'choices' is empty"},
		{NSH_LLM_OPENAI,
		 "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{}}]}}]}",
		 "'function.name'"},
		{NSH_LLM_OPENAI,
		 "{\"choices\":[{\"message\":{}}],\"usage\":{\"prompt_tokens\":\"x\"}}", "usage"},
		{NSH_LLM_ANTHROPIC, "{\"content\":[{\"type\":\"tool_use\",\"id\":\"a\"}]}",
		 "'name'"},
		{NSH_LLM_ANTHROPIC,
		 "{\"content\":[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"b\",\"input\":\"s\"}]}",
		 "'content[0].input' is not an object"},
		{NSH_LLM_ANTHROPIC, "{\"type\":\"message\"}", "'content'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nsh_llm_reply r = {0};
		struct nsh_err err = NSH_ERR_INIT;

		CHECK_INT(nsh_llm_decode(cases[i].api, cases[i].body, strlen(cases[i].body), &r,
					 &err),
			  NSH_EINVAL);
		CHECK(strstr(err.msg, "malformed response") != NULL);
		CHECK(strstr(err.msg, cases[i].says) != NULL);
		if (!strstr(err.msg, cases[i].says))
			fprintf(stderr, "case %zu: %s\n", i, err.msg);
		nsh_llm_reply_release(&r);
	}
}

static void test_error_bodies(void)
{
	static const char oa[] = "{\"error\":{\"message\":\"You exceeded your current quota\","
				 "\"type\":\"insufficient_quota\",\"param\":null,\"code\":"
				 "\"insufficient_quota\"}}";
	static const char an[] = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
				 "\"message\":\"Overloaded\"},\"request_id\":\"req_1\"}";
	static const char spend[] = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
				    "\"message\":\"limit\",\"details\":{\"error_code\":"
				    "\"enforced_spend_limit_reached\"}}}";
	struct nsh_llm_error e = {0};
	struct nsh_llm_reply r = {0};
	struct nsh_err err = NSH_ERR_INIT;

	CHECK(nsh_llm_error_parse(oa, strlen(oa), &e));
	CHECK_STR(e.code, "insufficient_quota");
	CHECK(!nsh_llm_retryable(429, NULL, &e));
	nsh_llm_error_release(&e);
	CHECK(nsh_llm_error_parse(an, strlen(an), &e));
	CHECK_STR(e.type, "overloaded_error");
	CHECK(nsh_llm_retryable(529, NULL, &e));
	nsh_llm_error_release(&e);
	CHECK(nsh_llm_error_parse(spend, strlen(spend), &e));
	CHECK_STR(e.code, "enforced_spend_limit_reached");
	CHECK(!nsh_llm_retryable(429, NULL, &e));
	nsh_llm_error_release(&e);
	CHECK(!nsh_llm_error_parse("oops", 4, &e));
	/* an error object in a 200 body is the provider's error, not a reply */
	CHECK_INT(nsh_llm_decode(NSH_LLM_ANTHROPIC, an, strlen(an), &r, &err), NSH_EFAIL);
	CHECK(strstr(err.msg, "overloaded_error") && strstr(err.msg, "Overloaded"));
}

static void test_retry_policy(void)
{
	static const int yes[] = {0, 408, 409, 429, 500, 502, 503, 504, 529};
	static const int no[] = {400, 401, 403, 404, 413, 422};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CHECK(nsh_llm_retryable(yes[i], NULL, NULL));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CHECK(!nsh_llm_retryable(no[i], NULL, NULL));
	CHECK(!nsh_llm_retryable(500, "false", NULL));
	CHECK(nsh_llm_retryable(400, "true", NULL));

	/* headers first, when between 0 and 60 s */
	CHECK_INT(nsh_llm_retry_delay_ms(0, "250", "9", 500, 0, 0), 250);
	CHECK_INT(nsh_llm_retry_delay_ms(0, NULL, "2", 500, 0, 0), 2000);
	CHECK_INT(nsh_llm_retry_delay_ms(0, NULL, "Thu, 01 Jan 1970 00:00:05 GMT", 500, 0, 1000),
		  4000);
	CHECK_INT(nsh_llm_retry_delay_ms(0, NULL, "120", 500, 0, 0), 500); /* too long: ignored */
	CHECK_INT(nsh_llm_retry_delay_ms(0, "0", NULL, 500, 0, 0), 500);   /* zero: ignored */
	/* exponential backoff with a cap, jitter takes up to a quarter off */
	CHECK_INT(nsh_llm_retry_delay_ms(1, NULL, NULL, 500, 0, 0), 1000);
	CHECK_INT(nsh_llm_retry_delay_ms(3, NULL, NULL, 500, 0, 0), 4000);
	CHECK_INT(nsh_llm_retry_delay_ms(9, NULL, NULL, 500, 0, 0), 8000);
	CHECK_INT(nsh_llm_retry_delay_ms(0, NULL, NULL, 500, 0.5, 0), 437);
	CHECK(nsh_llm_retry_delay_ms(2, NULL, NULL, 500, 0.999, 0) >= 1500);
}

/* Feed @text to a stream decoder in pieces of @step bytes. */
static int feed(enum nsh_llm_api api, const char *text, size_t step, struct nsh_llm_reply *r,
		struct nsh_err *err)
{
	struct nsh_llm_stream *s = nsh_llm_stream_new(api);
	size_t len = strlen(text);
	int rc = 0;

	for (size_t i = 0; !rc && i < len; i += step)
		rc = nsh_llm_stream_feed(s, text + i, len - i < step ? len - i : step, err);
	if (!rc)
		rc = nsh_llm_stream_finish(s, r, err);
	nsh_llm_stream_free(s);
	return rc;
}

static const char openai_stream[] =
	"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":"
	"\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":"
	"\"\"}}]},\"finish_reason\":null}]}\n\n"
	"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"path\\\":\"}}]},"
	"\"finish_reason\":null}]}\n\n"
	": keep-alive\n\n"
	"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"a.c\\\"}\"}}]},"
	"\"finish_reason\":null}]}\r\n\r\n"
	"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
	"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":"
	"{\"prompt_tokens\":1200,\"completion_tokens\":30,\"total_tokens\":1230}}\n\n"
	"data: [DONE]\n\n";

static void test_openai_stream(void)
{
	static const size_t steps[] = {1, 3, 7, 64, 100000};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct nsh_llm_reply r = {0};
		struct nsh_err err = NSH_ERR_INIT;

		CHECK_INT(feed(NSH_LLM_OPENAI, openai_stream, steps[i], &r, &err), 0);
		CHECK_INT(r.ncalls, 1);
		if (r.ncalls) {
			CHECK_STR(r.calls[0].id, "call_abc");
			CHECK_STR(r.calls[0].args, "{\"path\":\"a.c\"}");
		}
		CHECK_INT(r.usage.input, 1200);
		CHECK_INT(r.usage.output, 30);
		CHECK_INT(r.stop, NSH_LLM_STOP_TOOL_USE);
		nsh_llm_reply_release(&r);
	}
}

static void test_openai_stream_text_and_errors(void)
{
	struct nsh_llm_reply r = {0};
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(feed(NSH_LLM_OPENAI,
		       "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
		       "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":"
		       "\"stop\"}]}\n\ndata: [DONE]\n\n",
		       5, &r, &err),
		  0);
	CHECK_STR(r.text, "Hello");
	CHECK_INT(r.stop, NSH_LLM_STOP_END);
	nsh_llm_reply_release(&r);

	/* cut before the end */
	CHECK_INT(feed(NSH_LLM_OPENAI,
		       "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n", 8, &r, &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "ended before the reply was complete") != NULL);
	/* an error in the stream */
	CHECK_INT(feed(NSH_LLM_OPENAI,
		       "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n", 4,
		       &r, &err),
		  NSH_EFAIL);
	CHECK(strstr(err.msg, "boom") != NULL);
	/* garbage in the stream */
	CHECK_INT(feed(NSH_LLM_OPENAI, "data: {nope\n\n", 4, &r, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "malformed response") != NULL);
}

static const char anthropic_stream[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
	"\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,"
	"\"usage\":{\"input_tokens\":50,\"cache_creation_input_tokens\":4000,"
	"\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n"
	"event: ping\ndata: {\"type\":\"ping\"}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
	"\"text\":\"\"}}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
	"\"text\":\"Reading.\"}}\n\n"
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
	"\"tool_use\",\"id\":\"toolu_01\",\"name\":\"read_file\",\"input\":{}}}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
	"\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \"}}\n\n"
	"event: something_new\ndata: {\"type\":\"something_new\"}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
	"\"input_json_delta\",\"partial_json\":\"\\\"a.c\\\"}\"}}\n\n"
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":"
	"\"tool_use\",\"id\":\"toolu_02\",\"name\":\"git_diff\",\"input\":{}}}\n\n"
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
	"\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n"
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void test_anthropic_stream(void)
{
	static const size_t steps[] = {1, 5, 33, 100000};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct nsh_llm_reply r = {0};
		struct nsh_err err = NSH_ERR_INIT;

		CHECK_INT(feed(NSH_LLM_ANTHROPIC, anthropic_stream, steps[i], &r, &err), 0);
		CHECK_STR(r.text, "Reading.");
		CHECK_INT(r.ncalls, 2);
		if (r.ncalls == 2) {
			CHECK_STR(r.calls[0].id, "toolu_01");
			CHECK_STR(r.calls[0].args, "{\"path\": \"a.c\"}");
			CHECK_STR(r.calls[1].args, "{}"); /* no delta: an empty input */
		}
		CHECK_INT(r.usage.input, 50);
		CHECK_INT(r.usage.cache_write, 4000);
		CHECK_INT(r.usage.output, 89);
		CHECK_INT(r.stop, NSH_LLM_STOP_TOOL_USE);
		CHECK_STR(r.model, "claude-x");
		nsh_llm_reply_release(&r);
	}
}

static void test_anthropic_stream_errors(void)
{
	struct nsh_llm_stream *s = nsh_llm_stream_new(NSH_LLM_ANTHROPIC);
	static const char overloaded[] =
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
		"\"message\":\"Overloaded\"}}\n\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_llm_reply r = {0};

	CHECK_INT(nsh_llm_stream_feed(s, overloaded, strlen(overloaded), &err), NSH_EFAIL);
	CHECK(nsh_llm_stream_error(s) != NULL);
	CHECK_STR(nsh_llm_stream_error(s)->type, "overloaded_error");
	nsh_llm_stream_free(s);

	/* a tool input that is not JSON is caught at content_block_stop */
	CHECK_INT(feed(NSH_LLM_ANTHROPIC,
		       "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
		       "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"x\",\"input\":{}}}\n\n"
		       "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		       "\"input_json_delta\",\"partial_json\":\"{oops\"}}\n\n"
		       "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
		       9, &r, &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "input of tool_use block 0") != NULL);
	/* no message_stop and no stop_reason */
	CHECK_INT(feed(NSH_LLM_ANTHROPIC,
		       "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n", 9, &r,
		       &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "message_stop") != NULL);
}

struct sse_seen {
	char log[512];
};

static int sse_cb(const char *event, const char *data, size_t len, void *ctx, struct nsh_err *err)
{
	struct sse_seen *s = ctx;
	size_t n = strlen(s->log);

	(void)err;
	snprintf(s->log + n, sizeof(s->log) - n, "[%s|%.*s]", event, (int)len, data);
	return 0;
}

static void test_sse_parser(void)
{
	static const char text[] = "event: a\r\ndata: one\r\ndata:two\r\n\r\n"
				   ": comment\nid: 7\nretry: 10\ndata: x\rdata: y\r\r"
				   "event: ignored-without-data\n\n"
				   "data:  lead\nunknown: z\ndata\n\n"
				   "data: tail";
	static const size_t steps[] = {1, 2, 5, 1000};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct sse_seen seen = {""};
		struct nsh_sse p;
		struct nsh_err err = NSH_ERR_INIT;
		size_t len = strlen(text);

		nsh_sse_init(&p, sse_cb, &seen);
		for (size_t k = 0; k < len; k += steps[i])
			CHECK_INT(nsh_sse_feed(&p, text + k,
					       len - k < steps[i] ? len - k : steps[i], &err),
				  0);
		CHECK_INT(nsh_sse_finish(&p, &err), 0);
		CHECK_STR(seen.log, "[a|one\ntwo][|x\ny][| lead\n][|tail]");
		nsh_sse_release(&p);
	}
}

static void test_sse_line_cap(void)
{
	struct sse_seen seen = {""};
	struct nsh_sse p;
	struct nsh_err err = NSH_ERR_INIT;
	char *big = malloc(NSH_LLM_LINE_MAX + 10);
	int rc = 0;

	memset(big, 'a', NSH_LLM_LINE_MAX + 10);
	nsh_sse_init(&p, sse_cb, &seen);
	rc = nsh_sse_feed(&p, "data: ", 6, &err);
	if (!rc)
		rc = nsh_sse_feed(&p, big, NSH_LLM_LINE_MAX + 10, &err);
	CHECK_INT(rc, NSH_ETOOBIG);
	nsh_sse_release(&p);
	free(big);
}

static void test_conv_repair_and_json(void)
{
	struct nsh_llm_conv c, back;
	struct nsh_llm_call calls[3] = {{S("a"), S("run"), S("{}")},
					{S("b"), S("run"), S("{}")},
					{S("c"), S("run"), S("{}")}};
	struct nsh_err err = NSH_ERR_INIT;
	json_t *j;

	nsh_llm_conv_init(&c);
	c.system = strdup("sys");
	nsh_llm_conv_add_user(&c, "task");
	nsh_llm_conv_add_assistant(&c, NULL, calls, 3);
	nsh_llm_conv_add_tool(&c, "b", "run", "ok", false);
	/* a and c never got results: the job was interrupted */
	CHECK_INT(nsh_llm_conv_repair(&c), 2);
	CHECK_INT(c.nr, 5);
	CHECK_STR(c.v[3].call_id, "a");
	CHECK_STR(c.v[4].call_id, "c");
	CHECK(c.v[3].is_error && strstr(c.v[3].text, "interrupted"));
	CHECK_INT(nsh_llm_conv_repair(&c), 0);

	j = nsh_llm_conv_to_json(&c);
	CHECK_INT(nsh_llm_conv_from_json(j, &back, &err), 0);
	CHECK_INT(back.nr, c.nr);
	CHECK_STR(back.system, "sys");
	CHECK_STR(back.v[1].calls[2].id, "c");
	CHECK(back.v[4].is_error);
	nsh_llm_conv_release(&back);
	json_decref(j);

	j = json_pack("{s:[{s:s}]}", "messages", "role", "robot");
	CHECK_INT(nsh_llm_conv_from_json(j, &back, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "message 0") && strstr(err.msg, "robot"));
	json_decref(j);
	nsh_llm_conv_release(&c);
}

static struct nsh_config *config(const char *text)
{
	struct nsh_config *cfg = NULL;
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_config_parse(text, strlen(text), "test", &cfg, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	return cfg;
}

static void test_settings(void)
{
	struct nsh_llm_settings s;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *cfg;

	unsetenv("NIGHTSHIFT_LLM_MODEL");
	unsetenv("NIGHTSHIFT_LLM_API");
	unsetenv("NIGHTSHIFT_LLM_URL");
	unsetenv("NIGHTSHIFT_LLM_KEY");
	cfg = config("");
	CHECK_INT(nsh_llm_settings_load(cfg, &s, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, "NIGHTSHIFT_LLM_MODEL") && strstr(err.msg, "NIGHTSHIFT_LLM_URL") &&
	      strstr(err.msg, "NIGHTSHIFT_LLM_API") && strstr(err.msg, "NIGHTSHIFT_LLM_KEY"));
	nsh_config_free(cfg);

	cfg = config("[llm]\napi = anthropic\nmodel = claude-x\nkey = k1\nprice_input = 3\n"
		     "price_output = 15\n[prices]\nclaude-x.output = 20\n");
	CHECK_INT(nsh_llm_settings_load(cfg, &s, &err), 0);
	CHECK_INT(s.api, NSH_LLM_ANTHROPIC);
	CHECK_STR(s.url, "https://api.anthropic.com/v1");
	CHECK(s.stream);
	CHECK(s.price.input == 3 && s.price.output == 20);
	CHECK(s.price.cache_read > 0.29 && s.price.cache_read < 0.31);
	CHECK(s.price.cache_write > 3.74 && s.price.cache_write < 3.76);
	nsh_llm_settings_release(&s);
	nsh_config_free(cfg);

	/* the environment wins over the file */
	setenv("NIGHTSHIFT_LLM_URL", "http://127.0.0.1:11434/v1", 1);
	setenv("NIGHTSHIFT_LLM_MODEL", "qwen2.5-coder", 1);
	cfg = config("[llm]\nmodel = other\ntimeout = 30s\nretries = 2\n");
	CHECK_INT(nsh_llm_settings_load(cfg, &s, &err), 0);
	CHECK_INT(s.api, NSH_LLM_OPENAI);
	CHECK_STR(s.model, "qwen2.5-coder");
	CHECK(!s.stream);	 /* a local server: no streaming unless asked */
	CHECK(s.use_max_tokens); /* local servers take max_tokens */
	CHECK(s.key == NULL);
	CHECK_INT(s.timeout_ms, 30000);
	CHECK_INT(s.max_retries, 2);
	nsh_llm_settings_release(&s);
	nsh_config_free(cfg);

	cfg = config("[llm]\napi = gemini\n");
	CHECK_INT(nsh_llm_settings_load(cfg, &s, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'gemini'") != NULL);
	nsh_config_free(cfg);
	cfg = config("[llm]\nbudget_cost = lots\n");
	CHECK_INT(nsh_llm_settings_load(cfg, &s, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'lots'") && strstr(err.msg, "llm.budget_cost"));
	nsh_config_free(cfg);
	unsetenv("NIGHTSHIFT_LLM_URL");
	unsetenv("NIGHTSHIFT_LLM_MODEL");
}

static void test_usage_cost(void)
{
	struct nsh_llm_usage u = {1000000, 100000, 2000000, 0};
	struct nsh_llm_price p = {3, 15, 0.3, 3.75};

	CHECK(nsh_llm_usage_cost(&u, &p) > 5.099 && nsh_llm_usage_cost(&u, &p) < 5.101);
	CHECK_INT(nsh_llm_usage_total(&u), 3100000);
	p.input = -1; /* unknown prices count nothing */
	CHECK(nsh_llm_usage_cost(&u, &p) > 2.099 && nsh_llm_usage_cost(&u, &p) < 2.101);
}

int main(void)
{
	RUN(test_openai_request_shape);
	RUN(test_anthropic_request_shape);
	RUN(test_anthropic_alternation_and_fixes);
	RUN(test_openai_decode);
	RUN(test_openai_decode_local_quirks);
	RUN(test_malformed_named);
	RUN(test_error_bodies);
	RUN(test_retry_policy);
	RUN(test_openai_stream);
	RUN(test_openai_stream_text_and_errors);
	RUN(test_anthropic_stream);
	RUN(test_anthropic_stream_errors);
	RUN(test_sse_parser);
	RUN(test_sse_line_cap);
	RUN(test_conv_repair_and_json);
	RUN(test_settings);
	RUN(test_usage_cost);
	return TEST_DONE();
}
