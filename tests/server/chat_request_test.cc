#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "server/openai_protocol.h"

namespace qs::server {
namespace {

const char* kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

// {"model":"m", <messages>, <extra>}
std::string Body(const std::string& extra, const std::string& messages = kMsgs) {
  std::string b = std::string(R"({"model":"m",)") + messages;
  if (!extra.empty()) b += "," + extra;
  return b + "}";
}

struct BadCase {
  const char* name;
  std::string body;
  int status;
  const char* param;  // "" = no param
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class ChatBadRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ChatBadRequest, IsRejectedNamingTheField) {
  const BadCase& c = GetParam();
  ServerLimits limits;
  limits.max_body_bytes = 4096;
  auto r = parse_chat_request(c.body, limits);
  ASSERT_FALSE(r.ok()) << c.name << ": accepted " << c.body;
  EXPECT_EQ(r.error().http_status, c.status) << c.name << ": " << r.error().message;
  EXPECT_EQ(r.error().param, c.param) << c.name << ": " << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
  EXPECT_FALSE(r.error().type.empty());
}

const std::string kTools =
    R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])";

const BadCase kBadCases[] = {
    {"not_json", "{\"model\":", 400, ""},
    {"trailing_garbage", Body("") + "x", 400, ""},
    {"top_level_array", "[1,2]", 400, ""},
    {"invalid_utf8_in_string",
     Body("", "\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]"), 400, ""},
    {"overlong_utf8", Body("", "\"messages\":[{\"role\":\"user\",\"content\":\"\xC0\xAF\"}]"), 400,
     ""},
    {"lone_surrogate_escape", Body("", R"("messages":[{"role":"user","content":"\ud800"}])"), 400,
     ""},
    {"too_deep", Body(R"("x":)" + std::string(200, '[') + std::string(200, ']')), 400, ""},
    {"too_large", Body(R"("user":")" + std::string(5000, 'a') + "\""), 413, ""},
    {"messages_missing", R"({"model":"m"})", 400, "messages"},
    {"messages_empty", Body("", R"("messages":[])"), 400, "messages"},
    {"messages_not_array", Body("", R"("messages":"hi")"), 400, "messages"},
    {"message_not_object", Body("", R"("messages":["hi"])"), 400, "messages[0]"},
    {"role_missing", Body("", R"("messages":[{"content":"hi"}])"), 400, "messages[0].role"},
    {"role_unknown", Body("", R"("messages":[{"role":"wizard","content":"hi"}])"), 400,
     "messages[0].role"},
    {"content_missing_user",
     Body("", R"("messages":[{"role":"system","content":"s"},{"role":"user"}])"), 400,
     "messages[1].content"},
    {"content_null_assistant_without_tools",
     Body("", R"("messages":[{"role":"user","content":"q"},{"role":"assistant","content":null}])"),
     400, "messages[1].content"},
    {"content_number", Body("", R"("messages":[{"role":"user","content":5}])"), 400,
     "messages[0].content"},
    {"content_part_image",
     Body("", R"("messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}])"),
     400, "messages[0].content[0].type"},
    {"content_part_text_missing",
     Body("", R"("messages":[{"role":"user","content":[{"type":"text"}]}])"), 400,
     "messages[0].content[0].text"},
    {"tool_calls_on_user",
     Body("", R"("messages":[{"role":"user","content":"x","tool_calls":[]}])"), 400,
     "messages[0].tool_calls"},
    {"tool_call_without_name",
     Body(
         "",
         R"("messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}])"),
     400, "messages[0].tool_calls[0].function.name"},
    {"model_not_string", R"({"model":5,"messages":[{"role":"user","content":"hi"}]})", 400,
     "model"},
    {"temperature_string", Body(R"("temperature":"hot")"), 400, "temperature"},
    {"temperature_too_high", Body(R"("temperature":2.5)"), 400, "temperature"},
    {"temperature_negative", Body(R"("temperature":-0.1)"), 400, "temperature"},
    {"temperature_bool", Body(R"("temperature":true)"), 400, "temperature"},
    {"top_p_zero", Body(R"("top_p":0)"), 400, "top_p"},
    {"top_p_above_one", Body(R"("top_p":1.01)"), 400, "top_p"},
    {"top_k_below_minus_one", Body(R"("top_k":-2)"), 400, "top_k"},
    {"top_k_fractional", Body(R"("top_k":2.5)"), 400, "top_k"},
    {"min_p_above_one", Body(R"("min_p":1.5)"), 400, "min_p"},
    {"presence_penalty_range", Body(R"("presence_penalty":3)"), 400, "presence_penalty"},
    {"frequency_penalty_range", Body(R"("frequency_penalty":-2.01)"), 400, "frequency_penalty"},
    {"repetition_penalty_zero", Body(R"("repetition_penalty":0)"), 400, "repetition_penalty"},
    {"seed_too_big", Body(R"("seed":18446744073709551615)"), 400, "seed"},
    {"seed_string", Body(R"("seed":"42")"), 400, "seed"},
    {"max_tokens_zero", Body(R"("max_tokens":0)"), 400, "max_tokens"},
    {"max_tokens_negative", Body(R"("max_tokens":-5)"), 400, "max_tokens"},
    {"max_tokens_over_limit", Body(R"("max_tokens":1000000)"), 400, "max_tokens"},
    {"max_completion_tokens_zero", Body(R"("max_completion_tokens":0)"), 400,
     "max_completion_tokens"},
    {"min_tokens_over_max", Body(R"("max_tokens":4,"min_tokens":8)"), 400, "min_tokens"},
    {"n_zero", Body(R"("n":0)"), 400, "n"},
    {"n_too_big", Body(R"("n":9)"), 400, "n"},
    {"stop_empty_string", Body(R"("stop":"")"), 400, "stop"},
    {"stop_five", Body(R"("stop":["a","b","c","d","e"])"), 400, "stop"},
    {"stop_empty_element", Body(R"("stop":["a",""])"), 400, "stop[1]"},
    {"stop_number_element", Body(R"("stop":["a",3])"), 400, "stop[1]"},
    {"stop_number", Body(R"("stop":7)"), 400, "stop"},
    {"stop_token_id_out_of_vocab", Body(R"("stop_token_ids":[1,999999999])"), 400,
     "stop_token_ids[1]"},
    {"logprobs_not_bool", Body(R"("logprobs":3)"), 400, "logprobs"},
    {"top_logprobs_without_logprobs", Body(R"("top_logprobs":5)"), 400, "top_logprobs"},
    {"top_logprobs_too_big", Body(R"("logprobs":true,"top_logprobs":21)"), 400, "top_logprobs"},
    {"stream_not_bool", Body(R"("stream":"yes")"), 400, "stream"},
    {"stream_options_without_stream", Body(R"("stream_options":{"include_usage":true})"), 400,
     "stream_options"},
    {"include_usage_not_bool", Body(R"("stream":true,"stream_options":{"include_usage":1})"), 400,
     "stream_options.include_usage"},
    {"logit_bias_nonempty", Body(R"("logit_bias":{"50256":-100})"), 400, "logit_bias"},
    {"suffix", Body(R"("suffix":"tail")"), 400, "suffix"},
    {"functions_deprecated", Body(R"("functions":[{"name":"f"}])"), 400, "functions"},
    {"best_of_unsupported", Body(R"("best_of":3)"), 400, "best_of"},
    {"beam_search", Body(R"("use_beam_search":true)"), 400, "use_beam_search"},
    {"tools_not_array", Body(R"("tools":{})"), 400, "tools"},
    {"tool_wrong_type", Body(R"("tools":[{"type":"retrieval","function":{"name":"f"}}])"), 400,
     "tools[0].type"},
    {"tool_function_missing", Body(R"("tools":[{"type":"function"}])"), 400, "tools[0].function"},
    {"tool_bad_name", Body(R"("tools":[{"type":"function","function":{"name":"a b"}}])"), 400,
     "tools[0].function.name"},
    {"tool_parameters_not_object",
     Body(R"("tools":[{"type":"function","function":{"name":"f","parameters":"x"}}])"), 400,
     "tools[0].function.parameters"},
    {"tool_duplicate_name",
     Body(
         R"("tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}])"),
     400, "tools[1].function.name"},
    {"tool_choice_unknown_tool",
     Body(kTools + R"(,"tool_choice":{"type":"function","function":{"name":"nope"}})"), 400,
     "tool_choice"},
    {"tool_choice_bad_string", Body(kTools + R"(,"tool_choice":"sometimes")"), 400, "tool_choice"},
    {"tool_choice_required_without_tools", Body(R"("tool_choice":"required")"), 400, "tool_choice"},
    {"tool_choice_number", Body(kTools + R"(,"tool_choice":1)"), 400, "tool_choice"},
    {"response_format_bad_type", Body(R"("response_format":{"type":"yaml"})"), 400,
     "response_format.type"},
    {"response_format_not_object", Body(R"("response_format":"json_object")"), 400,
     "response_format"},
    {"json_schema_missing", Body(R"("response_format":{"type":"json_schema"})"), 400,
     "response_format.json_schema"},
    {"json_schema_no_name",
     Body(R"("response_format":{"type":"json_schema","json_schema":{"schema":{}}})"), 400,
     "response_format.json_schema.name"},
    {"json_schema_schema_not_object",
     Body(R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[]}})"),
     400, "response_format.json_schema.schema"},
    {"continue_final_needs_assistant_last", Body(R"("continue_final_message":true)"), 400,
     "continue_final_message"},
    {"chat_template_custom", Body(R"("chat_template":"{{x}}")"), 400, "chat_template"},
};

INSTANTIATE_TEST_SUITE_P(Table, ChatBadRequest, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(ChatBadRequestTable, HasAtLeast35Cases) {
  EXPECT_GE(sizeof(kBadCases) / sizeof(kBadCases[0]), 35u);
}

TEST(ChatRequest, MinimalDefaults) {
  auto r = parse_chat_request(Body(""), ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0].role, Role::kUser);
  EXPECT_EQ(r->messages[0].content, "hi");
  const SamplingFields& s = r->sampling;
  EXPECT_FALSE(s.max_tokens.has_value());
  EXPECT_FALSE(s.temperature.has_value());
  EXPECT_FALSE(s.seed.has_value());
  EXPECT_EQ(s.n, 1);
  EXPECT_FALSE(s.stream);
  EXPECT_TRUE(s.skip_special_tokens);
  EXPECT_FALSE(r->logprobs);
  EXPECT_EQ(r->tool_choice.mode, ToolChoice::Mode::kNone);
  EXPECT_EQ(r->response_format.type, ResponseFormat::Type::kText);
  EXPECT_TRUE(r->add_generation_prompt);
}

TEST(ChatRequest, AllFieldsParse) {
  const std::string body = R"({
    "model": "qwen", "max_tokens": 100, "max_completion_tokens": 50, "min_tokens": 2,
    "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
    "presence_penalty": 0.5, "frequency_penalty": -0.5, "repetition_penalty": 1.1,
    "seed": -9223372036854775808, "stop": ["\n\n", "END"], "stop_token_ids": [151643],
    "n": 2, "logprobs": true, "top_logprobs": 3, "stream": true,
    "stream_options": {"include_usage": true}, "user": "u1", "ignore_eos": true,
    "skip_special_tokens": false, "include_stop_str_in_output": true,
    "parallel_tool_calls": false, "logit_bias": {}, "suffix": null, "unknown_extra": {"a": 1},
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
               "strict": true}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "response_format": {"type": "json_schema",
                        "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}},
    "messages": [
      {"role": "developer", "content": "sys"},
      {"role": "user", "name": "bob", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
      {"role": "assistant", "content": "It is"}
    ],
    "continue_final_message": true, "add_generation_prompt": null
  })";
  auto r = parse_chat_request(body, ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message << " param=" << r.error().param;
  const ChatCompletionRequest& q = *r;
  EXPECT_EQ(q.model, "qwen");
  const SamplingFields& s = q.sampling;
  EXPECT_EQ(s.max_tokens, 50);  // max_completion_tokens wins
  EXPECT_EQ(s.min_tokens, 2);
  EXPECT_DOUBLE_EQ(*s.temperature, 0.7);
  EXPECT_DOUBLE_EQ(*s.top_p, 0.9);
  EXPECT_EQ(s.top_k, 40);
  EXPECT_DOUBLE_EQ(*s.min_p, 0.05);
  EXPECT_DOUBLE_EQ(*s.presence_penalty, 0.5);
  EXPECT_DOUBLE_EQ(*s.frequency_penalty, -0.5);
  EXPECT_DOUBLE_EQ(*s.repetition_penalty, 1.1);
  EXPECT_EQ(s.seed, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(s.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(s.stop_token_ids, (std::vector<int64_t>{151643}));
  EXPECT_EQ(s.n, 2);
  EXPECT_TRUE(s.stream);
  EXPECT_TRUE(s.include_usage);
  EXPECT_EQ(s.user, "u1");
  EXPECT_TRUE(s.ignore_eos);
  EXPECT_FALSE(s.skip_special_tokens);
  EXPECT_TRUE(s.include_stop_str_in_output);
  EXPECT_TRUE(q.logprobs);
  EXPECT_EQ(q.top_logprobs, 3);
  EXPECT_FALSE(q.parallel_tool_calls);
  ASSERT_EQ(q.tools.size(), 1u);
  EXPECT_EQ(q.tools[0].name, "get_weather");
  EXPECT_EQ(q.tools[0].description, "d");
  EXPECT_EQ(q.tools[0].parameters["properties"]["city"]["type"], "string");
  EXPECT_TRUE(q.tools[0].strict);
  EXPECT_EQ(q.tool_choice.mode, ToolChoice::Mode::kFunction);
  EXPECT_EQ(q.tool_choice.function_name, "get_weather");
  EXPECT_EQ(q.response_format.type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(q.response_format.schema_name, "w");
  EXPECT_EQ(q.response_format.schema, nlohmann::json({{"type", "object"}}));
  EXPECT_TRUE(q.response_format.strict);
  ASSERT_EQ(q.messages.size(), 5u);
  EXPECT_EQ(q.messages[0].role, Role::kSystem);
  EXPECT_EQ(q.messages[0].content, "sys");
  EXPECT_EQ(q.messages[1].name, "bob");
  EXPECT_EQ(q.messages[1].content, "a\nb");
  EXPECT_EQ(q.messages[2].role, Role::kAssistant);
  EXPECT_TRUE(q.messages[2].content_null);
  ASSERT_EQ(q.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(q.messages[2].tool_calls[0].id, "call_1");
  EXPECT_EQ(q.messages[2].tool_calls[0].name, "get_weather");
  EXPECT_EQ(q.messages[2].tool_calls[0].arguments, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(q.messages[3].role, Role::kTool);
  EXPECT_EQ(q.messages[3].tool_call_id, "call_1");
  EXPECT_EQ(q.messages[3].content, "sunny");
  EXPECT_TRUE(q.continue_final_message);
  EXPECT_FALSE(q.add_generation_prompt);
}

TEST(ChatRequest, NullsMeanAbsentAndEdgeValuesAccepted) {
  auto r = parse_chat_request(
      Body(R"("temperature":null,"stop":null,"tools":null,"n":null,"stream_options":null,)"
           R"("top_k":-1,"top_p":1,"max_tokens":32768.0,"seed":0,"logprobs":false,)"
           R"("response_format":{"type":"json_object"},"modalities":["text"])"),
      ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->sampling.temperature.has_value());
  EXPECT_TRUE(r->sampling.stop.empty());
  EXPECT_EQ(r->sampling.top_k, 0);  // -1 normalized to "off"
  EXPECT_EQ(r->sampling.max_tokens, 32768);
  EXPECT_EQ(r->response_format.type, ResponseFormat::Type::kJsonObject);
}

TEST(ChatRequest, SingleStopStringAndToolChoiceDefaults) {
  auto r = parse_chat_request(Body(R"("stop":"###",)" + kTools), ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sampling.stop, std::vector<std::string>{"###"});
  EXPECT_EQ(r->tool_choice.mode, ToolChoice::Mode::kAuto);  // tools given, no choice
  auto req = parse_chat_request(Body(kTools + R"(,"tool_choice":"required")"), ServerLimits{});
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->tool_choice.mode, ToolChoice::Mode::kRequired);
  auto none = parse_chat_request(Body(kTools + R"(,"tool_choice":"none")"), ServerLimits{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->tool_choice.mode, ToolChoice::Mode::kNone);
}

TEST(ChatRequest, Utf8ContentKept) {
  auto r = parse_chat_request(
      Body("",
           "\"messages\":[{\"role\":\"user\",\"content\":\"h\xC3\xA9 \xF0\x9F\x98\x80 \\u00e9\"}]"),
      ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->messages[0].content, "h\xC3\xA9 \xF0\x9F\x98\x80 \xC3\xA9");
}

TEST(ChatRequest, LimitsAreHonoured) {
  ServerLimits limits;
  limits.max_tokens = 10;
  limits.max_n = 2;
  EXPECT_TRUE(parse_chat_request(Body(R"("max_tokens":10,"n":2)"), limits).ok());
  auto r = parse_chat_request(Body(R"("max_tokens":11)"), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().param, "max_tokens");
  auto n = parse_chat_request(Body(R"("n":3)"), limits);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().param, "n");
}

TEST(ResolveModel, DefaultKnownUnknown) {
  const std::vector<std::string> served = {"qwen2.5-0.5b-instruct", "alias"};
  auto def = resolve_model("", served);
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(*def, "qwen2.5-0.5b-instruct");
  auto alias = resolve_model("alias", served);
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(*alias, "alias");
  auto bad = resolve_model("gpt-4", served);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().http_status, 400);  // an invalid request (the serving issue)
  EXPECT_EQ(bad.error().param, "model");
  EXPECT_EQ(bad.error().code, "model_not_found");
  EXPECT_FALSE(resolve_model("", {}).ok());
  auto upper = resolve_model("Qwen2.5-0.5B-Instruct", served);  // ASCII case is ignored
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, "qwen2.5-0.5b-instruct");
  EXPECT_FALSE(resolve_model("qwen2.5-0.5b-instruct-x", served).ok());
}

}  // namespace
}  // namespace qs::server
