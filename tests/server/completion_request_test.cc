#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "server/openai_protocol.h"
#include "server/tokenize_protocol.h"

namespace qs::server {
namespace {

struct BadCase {
  const char* name;
  const char* body;
  int status;
  const char* param;
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class CompletionBadRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(CompletionBadRequest, IsRejectedNamingTheField) {
  const BadCase& c = GetParam();
  auto r = parse_completion_request(c.body, ServerLimits{});
  ASSERT_FALSE(r.ok()) << c.name << ": accepted " << c.body;
  EXPECT_EQ(r.error().http_status, c.status) << c.name << ": " << r.error().message;
  EXPECT_EQ(r.error().param, c.param) << c.name << ": " << r.error().message;
}

const BadCase kBadCases[] = {
    {"prompt_missing", R"({"model":"m"})", 400, "prompt"},
    {"prompt_empty", R"({"prompt":""})", 400, "prompt"},
    {"prompt_number", R"({"prompt":5})", 400, "prompt"},
    {"prompt_empty_list", R"({"prompt":[]})", 400, "prompt"},
    {"prompt_two_strings", R"({"prompt":["a","b"]})", 400, "prompt"},
    {"prompt_negative_token", R"({"prompt":[1,-2]})", 400, "prompt[1]"},
    {"prompt_token_out_of_vocab", R"({"prompt":[151936]})", 400, "prompt[0]"},
    {"prompt_token_fraction", R"({"prompt":[1,2.5]})", 400, "prompt[1]"},
    {"prompt_mixed", R"({"prompt":[1,"a"]})", 400, "prompt[1]"},
    {"prompt_nested_empty", R"({"prompt":[[]]})", 400, "prompt[0]"},
    {"prompt_list_of_number_lists_bad", R"({"prompt":[[1,"x"]]})", 400, "prompt[0][1]"},
    {"suffix_unsupported", R"({"prompt":"a","suffix":"b"})", 400, "suffix"},
    {"logprobs_too_big", R"({"prompt":"a","logprobs":6})", 400, "logprobs"},
    {"logprobs_bool", R"({"prompt":"a","logprobs":true})", 400, "logprobs"},
    {"echo_string", R"({"prompt":"a","echo":"yes"})", 400, "echo"},
    {"max_tokens_zero", R"({"prompt":"a","max_tokens":0})", 400, "max_tokens"},
    {"min_tokens_over_default_max", R"({"prompt":"a","min_tokens":17})", 400, "min_tokens"},
    {"temperature_hot", R"({"prompt":"a","temperature":"hot"})", 400, "temperature"},
    {"logit_bias", R"({"prompt":"a","logit_bias":{"1":5}})", 400, "logit_bias"},
    {"best_of", R"({"prompt":"a","best_of":2})", 400, "best_of"},
};

INSTANTIATE_TEST_SUITE_P(Table, CompletionBadRequest, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(CompletionRequest, TextPromptDefaults) {
  auto r = parse_completion_request(R"({"model":"m","prompt":"Once upon"})", ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt_text, "Once upon");
  EXPECT_TRUE(r->prompt_tokens.empty());
  EXPECT_EQ(r->sampling.max_tokens, 16);  // OpenAI's default for completions
  EXPECT_FALSE(r->echo);
  EXPECT_FALSE(r->logprobs.has_value());
}

TEST(CompletionRequest, PromptForms) {
  auto one = parse_completion_request(R"({"prompt":["only"]})", ServerLimits{});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->prompt_text, "only");
  auto ids = parse_completion_request(R"({"prompt":[9707, 0, 151935]})", ServerLimits{});
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  EXPECT_FALSE(ids->prompt_text.has_value());
  EXPECT_EQ(ids->prompt_tokens, (std::vector<int64_t>{9707, 0, 151935}));
  auto nested = parse_completion_request(R"({"prompt":[[5,6]]})", ServerLimits{});
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->prompt_tokens, (std::vector<int64_t>{5, 6}));
}

TEST(CompletionRequest, OptionsParse) {
  auto r = parse_completion_request(
      R"({"prompt":"x","echo":true,"logprobs":5,"max_tokens":64,"temperature":0,"stop":"\n",)"
      R"("stream":true,"stream_options":{"include_usage":true},"seed":7,"best_of":1,"suffix":""})",
      ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->echo);
  EXPECT_EQ(r->logprobs, 5);
  EXPECT_EQ(r->sampling.max_tokens, 64);
  EXPECT_DOUBLE_EQ(*r->sampling.temperature, 0.0);
  EXPECT_EQ(r->sampling.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(r->sampling.include_usage);
  EXPECT_EQ(r->sampling.seed, 7);
}

TEST(TokenizeRequest, PromptForm) {
  auto r = parse_tokenize_request(R"({"model":"m","prompt":"hello","return_token_strs":true})",
                                  ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->prompt, "hello");
  EXPECT_TRUE(r->messages.empty());
  EXPECT_TRUE(r->add_special_tokens);
  EXPECT_TRUE(r->return_token_strs);
}

TEST(TokenizeRequest, ChatForm) {
  auto r = parse_tokenize_request(
      R"({"messages":[{"role":"user","content":"hi"}],"add_generation_prompt":false})",
      ServerLimits{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->prompt.has_value());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0].content, "hi");
  EXPECT_FALSE(r->add_generation_prompt);
  EXPECT_FALSE(r->add_special_tokens);  // vLLM: false for the chat form
}

TEST(TokenizeRequest, Errors) {
  auto both = parse_tokenize_request(R"({"prompt":"a","messages":[]})", ServerLimits{});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().param, "messages");
  auto neither = parse_tokenize_request(R"({"model":"m"})", ServerLimits{});
  ASSERT_FALSE(neither.ok());
  EXPECT_EQ(neither.error().param, "prompt");
  auto badmsg =
      parse_tokenize_request(R"({"messages":[{"role":"x","content":"a"}]})", ServerLimits{});
  ASSERT_FALSE(badmsg.ok());
  EXPECT_EQ(badmsg.error().param, "messages[0].role");
}

TEST(DetokenizeRequest, ParsesAndValidates) {
  auto r = parse_detokenize_request(R"({"tokens":[1,2,3]})", ServerLimits{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tokens, (std::vector<int64_t>{1, 2, 3}));
  auto missing = parse_detokenize_request(R"({})", ServerLimits{});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().param, "tokens");
  auto bad = parse_detokenize_request(R"({"tokens":[1,"a"]})", ServerLimits{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().param, "tokens[1]");
  auto big = parse_detokenize_request(R"({"tokens":[151936]})", ServerLimits{});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().param, "tokens[0]");
}

TEST(TokenizeResponse, Shapes) {
  std::vector<std::string> strs = {"he", "llo"};
  auto j = tokenize_response_json({1, 2}, 32768, &strs);
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["max_model_len"], 32768);
  EXPECT_EQ(j["tokens"], nlohmann::json({1, 2}));
  EXPECT_EQ(j["token_strs"], nlohmann::json({"he", "llo"}));
  EXPECT_TRUE(tokenize_response_json({}, 5, nullptr)["token_strs"].is_null());
  EXPECT_EQ(detokenize_response_json("hi")["prompt"], "hi");
}

}  // namespace
}  // namespace qs::server
