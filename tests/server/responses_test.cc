#include "server/openai_responses.h"

#include <gtest/gtest.h>

#include <set>

#include "server/json_fields.h"
#include "server/openai_errors.h"

namespace qs::server {
namespace {

using nlohmann::json;

// Serializes and parses back: every body must be valid JSON.
json RoundTrip(const json& j) { return json::parse(to_body(j)); }

TEST(Ids, PrefixHexAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string id = make_id("chatcmpl-");
    ASSERT_EQ(id.rfind("chatcmpl-", 0), 0u);
    ASSERT_EQ(id.size(), 9u + 32u);
    for (char c : id.substr(9)) ASSERT_TRUE(isxdigit(static_cast<unsigned char>(c)) && !isupper(c));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_GT(unix_now(), 1700000000);
}

TEST(ChatCompletion, FieldByField) {
  ChatCompletion c;
  c.id = "chatcmpl-abc";
  c.created = 1234;
  c.model = "qwen";
  ChatChoice ch;
  ch.index = 0;
  ch.content = "Hello \"world\"\n";
  ch.finish_reason = FinishReason::kLength;
  TokenLogprob t{
      "Hello", -0.25, {72, 101, 108, 108, 111}, {{"Hello", -0.25, {72}}, {"Hi", -2.0, {}}}};
  ch.logprobs = std::vector<TokenLogprob>{t};
  c.choices.push_back(ch);
  c.usage = {10, 5, std::nullopt};
  json j = RoundTrip(chat_completion_json(c));
  EXPECT_EQ(j["id"], "chatcmpl-abc");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1234);
  EXPECT_EQ(j["model"], "qwen");
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& c0 = j["choices"][0];
  EXPECT_EQ(c0["index"], 0);
  EXPECT_EQ(c0["message"]["role"], "assistant");
  EXPECT_EQ(c0["message"]["content"], "Hello \"world\"\n");
  EXPECT_FALSE(c0["message"].contains("tool_calls"));
  EXPECT_EQ(c0["finish_reason"], "length");
  const json& lp = c0["logprobs"]["content"];
  ASSERT_EQ(lp.size(), 1u);
  EXPECT_EQ(lp[0]["token"], "Hello");
  EXPECT_DOUBLE_EQ(lp[0]["logprob"].get<double>(), -0.25);
  EXPECT_EQ(lp[0]["bytes"], json({72, 101, 108, 108, 111}));
  ASSERT_EQ(lp[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(lp[0]["top_logprobs"][1]["token"], "Hi");
  EXPECT_DOUBLE_EQ(lp[0]["top_logprobs"][1]["logprob"].get<double>(), -2.0);
  EXPECT_EQ(lp[0]["top_logprobs"][1]["bytes"], json::array());
  EXPECT_EQ(j["usage"],
            json({{"prompt_tokens", 10}, {"completion_tokens", 5}, {"total_tokens", 15}}));
}

TEST(ChatCompletion, ToolCallsMakeContentNullAndLogprobsNull) {
  ChatCompletion c{"chatcmpl-1", 1, "m", {}, {3, 4, 2}};
  ChatChoice ch;
  ch.index = 1;
  ch.tool_calls = {{"call_9", "function", "get_weather", R"({"city":"Oslo"})"}};
  ch.finish_reason = FinishReason::kToolCalls;
  c.choices.push_back(ch);
  json j = RoundTrip(chat_completion_json(c));
  const json& c0 = j["choices"][0];
  EXPECT_EQ(c0["index"], 1);
  EXPECT_TRUE(c0["message"]["content"].is_null());
  EXPECT_TRUE(c0["logprobs"].is_null());
  EXPECT_EQ(c0["finish_reason"], "tool_calls");
  const json& tc = c0["message"]["tool_calls"][0];
  EXPECT_EQ(tc["id"], "call_9");
  EXPECT_EQ(tc["type"], "function");
  EXPECT_EQ(tc["function"]["name"], "get_weather");
  EXPECT_EQ(tc["function"]["arguments"], R"({"city":"Oslo"})");
  EXPECT_EQ(j["usage"]["total_tokens"], 7);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
}

TEST(ChatChunks, StreamSequence) {
  StreamHeader h{"chatcmpl-s", 99, "qwen", false};
  json role = RoundTrip(chat_chunk_role(h, 0));
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["id"], "chatcmpl-s");
  EXPECT_EQ(role["created"], 99);
  EXPECT_EQ(role["model"], "qwen");
  EXPECT_FALSE(role.contains("usage"));
  EXPECT_EQ(role["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(role["choices"][0]["logprobs"].is_null());

  std::vector<TokenLogprob> lps = {{"Hi", -0.5, {72, 105}, {}}};
  json content = RoundTrip(chat_chunk_content(h, 2, "Hi", &lps));
  EXPECT_EQ(content["choices"][0]["index"], 2);
  EXPECT_EQ(content["choices"][0]["delta"], json({{"content", "Hi"}}));
  EXPECT_EQ(content["choices"][0]["logprobs"]["content"][0]["token"], "Hi");

  json fin = RoundTrip(chat_chunk_finish(h, 0, FinishReason::kStop));
  EXPECT_EQ(fin["choices"][0]["delta"], json::object());
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "stop");
}

TEST(ChatChunks, ToolCallDeltas) {
  StreamHeader h{"chatcmpl-t", 1, "m", false};
  json first = RoundTrip(chat_chunk_tool_call(h, 0, 0, "call_1", "f", ""));
  const json& d0 = first["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(d0["index"], 0);
  EXPECT_EQ(d0["id"], "call_1");
  EXPECT_EQ(d0["type"], "function");
  EXPECT_EQ(d0["function"]["name"], "f");
  EXPECT_EQ(d0["function"]["arguments"], "");
  json more = RoundTrip(chat_chunk_tool_call(h, 0, 1, "", "", "{\"a\":"));
  const json& d1 = more["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(d1["index"], 1);
  EXPECT_FALSE(d1.contains("id"));
  EXPECT_FALSE(d1.contains("type"));
  EXPECT_FALSE(d1["function"].contains("name"));
  EXPECT_EQ(d1["function"]["arguments"], "{\"a\":");
}

TEST(ChatChunks, IncludeUsage) {
  StreamHeader h{"chatcmpl-u", 1, "m", true};
  json c = RoundTrip(chat_chunk_content(h, 0, "x"));
  ASSERT_TRUE(c.contains("usage"));
  EXPECT_TRUE(c["usage"].is_null());
  json u = RoundTrip(chat_chunk_usage(h, {7, 3, std::nullopt}));
  EXPECT_EQ(u["object"], "chat.completion.chunk");
  EXPECT_EQ(u["choices"], json::array());
  EXPECT_EQ(u["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(u["usage"]["completion_tokens"], 3);
  EXPECT_EQ(u["usage"]["total_tokens"], 10);
}

TEST(TextCompletion, FieldByFieldWithLogprobs) {
  Completion c;
  c.id = "cmpl-1";
  c.created = 5;
  c.model = "m";
  CompletionChoice ch;
  ch.text = "ab c";
  ch.logprobs = std::vector<TokenLogprob>{{"ab", -0.1, {}, {{"ab", -0.1, {}}, {"a", -3, {}}}},
                                          {" c", -0.2, {}, {{" c", -0.2, {}}}}};
  ch.logprobs_text_offset = 10;
  ch.finish_reason = FinishReason::kLength;
  c.choices.push_back(ch);
  c.usage = {4, 2, std::nullopt};
  json j = RoundTrip(completion_json(c));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"], "cmpl-1");
  EXPECT_EQ(j["created"], 5);
  const json& c0 = j["choices"][0];
  EXPECT_EQ(c0["text"], "ab c");
  EXPECT_EQ(c0["index"], 0);
  EXPECT_EQ(c0["finish_reason"], "length");
  EXPECT_EQ(c0["logprobs"]["tokens"], json({"ab", " c"}));
  EXPECT_EQ(c0["logprobs"]["text_offset"], json({10, 12}));
  EXPECT_DOUBLE_EQ(c0["logprobs"]["token_logprobs"][1].get<double>(), -0.2);
  EXPECT_DOUBLE_EQ(c0["logprobs"]["top_logprobs"][0]["a"].get<double>(), -3.0);
  EXPECT_EQ(j["usage"]["total_tokens"], 6);
}

TEST(TextCompletion, Chunks) {
  StreamHeader h{"cmpl-s", 2, "m", true};
  CompletionChoice piece;
  piece.text = "tok";
  piece.finish_reason = FinishReason::kNone;
  json a = RoundTrip(completion_chunk(h, piece));
  EXPECT_EQ(a["object"], "text_completion");
  EXPECT_EQ(a["choices"][0]["text"], "tok");
  EXPECT_TRUE(a["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(a["choices"][0]["logprobs"].is_null());
  EXPECT_TRUE(a["usage"].is_null());
  json u = RoundTrip(completion_chunk_usage(h, {1, 2, std::nullopt}));
  EXPECT_EQ(u["choices"], json::array());
  EXPECT_EQ(u["usage"]["total_tokens"], 3);
}

TEST(Models, List) {
  json j = RoundTrip(models_list_json(
      {{"qwen2.5-0.5b-instruct", 42, "qwenserve", 32768}, {"alias", 43, "qwenserve", 0}}));
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["id"], "qwen2.5-0.5b-instruct");
  EXPECT_EQ(j["data"][0]["object"], "model");
  EXPECT_EQ(j["data"][0]["created"], 42);
  EXPECT_EQ(j["data"][0]["owned_by"], "qwenserve");
  EXPECT_EQ(j["data"][0]["max_model_len"], 32768);
  EXPECT_FALSE(j["data"][1].contains("max_model_len"));
  EXPECT_EQ(RoundTrip(models_list_json({}))["data"], json::array());
}

TEST(Errors, JsonShape) {
  json j = json::parse(error_body(ApiError::InvalidRequest("bad temp", "temperature")));
  EXPECT_EQ(j["error"]["message"], "bad temp");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
  json nf = json::parse(error_body(ApiError::ModelNotFound("gpt")));
  EXPECT_EQ(nf["error"]["code"], "model_not_found");
  EXPECT_EQ(nf["error"]["param"], "model");
  EXPECT_EQ(ApiError::ModelNotFound("gpt").http_status, 400);
  EXPECT_EQ(ApiError::Unauthorized("k").http_status, 401);
  EXPECT_EQ(ApiError::Unauthorized("k").type, "authentication_error");
  EXPECT_EQ(ApiError::Internal("x").http_status, 500);
  EXPECT_EQ(ApiError::Overloaded("x").http_status, 503);
  EXPECT_EQ(ApiError::TooLarge("x").http_status, 413);
  json internal = json::parse(error_body(ApiError::Internal("boom")));
  EXPECT_TRUE(internal["error"]["param"].is_null());
  EXPECT_EQ(internal["error"]["type"], "server_error");
}

TEST(Serialization, InvalidUtf8IsReplacedNotThrown) {
  json j = {{"text", std::string("a\xFF"
                                 "b")}};
  std::string body;
  ASSERT_NO_THROW(body = to_body(j));
  EXPECT_TRUE(is_valid_utf8(body));
  EXPECT_EQ(json::parse(body)["text"],
            "a\xEF\xBF\xBD"
            "b");  // U+FFFD
}

TEST(Utf8, Validator) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(is_valid_utf8("\x80"));                           // stray continuation
  EXPECT_FALSE(is_valid_utf8("\xC3"));                           // truncated
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));                       // overlong 2-byte
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));                   // overlong 3-byte
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));                   // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));               // overlong 4-byte
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));               // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));                       // truncated 3-byte
  EXPECT_FALSE(is_valid_utf8(std::string("a\xE2\x28\xA1", 4)));  // bad continuation
}

}  // namespace
}  // namespace qs::server
