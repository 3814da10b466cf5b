// Hostile input: random byte mutations of valid bodies must give a value or an
// ApiError, never a crash, an exception or a non-400/413 status.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "server/openai_protocol.h"
#include "server/tokenize_protocol.h"

namespace qs::server {
namespace {

const char* kChat =
    R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]},)"
    R"({"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
    R"({"role":"tool","tool_call_id":"c","content":"r"}],"temperature":0.5,"top_p":0.9,"stop":["x"],"n":2,)"
    R"("logprobs":true,"top_logprobs":2,"stream":true,"stream_options":{"include_usage":true},)"
    R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto",)"
    R"("response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}}})";
const char* kCompletion =
    R"({"model":"m","prompt":[1,2,3],"max_tokens":5,"echo":true,"logprobs":2})";

template <typename Parse>
void Mutate(const std::string& base, Parse parse, uint32_t seed) {
  std::mt19937 rng(seed);
  const char kAlphabet[] = "{}[]\",:0123456789.-eEtrufalsn \\\x80\xC3\xFF";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[pos] = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
          break;
        case 1:
          s.erase(pos, 1 + rng() % 8);
          break;
        default:
          s.insert(pos, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
          break;
      }
    }
    auto r = parse(s);
    if (!r.ok()) {
      ASSERT_TRUE(r.error().http_status == 400 || r.error().http_status == 413) << s;
      ASSERT_FALSE(r.error().message.empty()) << s;
    }
  }
}

TEST(RequestFuzz, ChatMutationsNeverCrash) {
  ServerLimits limits;
  ASSERT_TRUE(parse_chat_request(kChat, limits).ok());
  Mutate(
      kChat, [&](const std::string& s) { return parse_chat_request(s, limits); }, 1);
}

TEST(RequestFuzz, CompletionAndTokenizeMutationsNeverCrash) {
  ServerLimits limits;
  ASSERT_TRUE(parse_completion_request(kCompletion, limits).ok());
  Mutate(
      kCompletion, [&](const std::string& s) { return parse_completion_request(s, limits); }, 2);
  Mutate(
      kChat, [&](const std::string& s) { return parse_tokenize_request(s, limits); }, 3);
}

TEST(RequestFuzz, HugeNumbersAreRangeErrors) {
  ServerLimits limits;
  for (const char* v : {"1e400", "-1e400", "99999999999999999999999"}) {
    const std::string body =
        std::string(R"({"messages":[{"role":"user","content":"a"}],"temperature":)") + v + "}";
    auto r = parse_chat_request(body, limits);
    ASSERT_FALSE(r.ok()) << v;
    EXPECT_EQ(r.error().http_status, 400) << v;
  }
  auto mt = parse_chat_request(
      R"({"messages":[{"role":"user","content":"a"}],"max_tokens":99999999999999999999999})",
      limits);
  ASSERT_FALSE(mt.ok());
  EXPECT_EQ(mt.error().param, "max_tokens");
}

}  // namespace
}  // namespace qs::server
