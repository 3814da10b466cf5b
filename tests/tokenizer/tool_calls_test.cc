#include "tokenizer/tool_calls.h"

#include <gtest/gtest.h>

#include <set>

namespace qs::tokenizer {
namespace {

TEST(ToolCalls, NoCalls) {
  auto p = parse_tool_calls("Just text.\n");
  EXPECT_EQ(p.content, "Just text.\n");
  EXPECT_TRUE(p.tool_calls.empty());
  EXPECT_FALSE(p.malformed);
}

TEST(ToolCalls, OneCallWithContent) {
  auto p = parse_tool_calls(
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\", \"days\": 2}}\n</tool_call>");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.content, "Let me check.");
  EXPECT_EQ(p.tool_calls[0].name, "get_weather");
  EXPECT_EQ(p.tool_calls[0].arguments, "{\"city\": \"Paris\", \"days\": 2}");
  EXPECT_EQ(p.tool_calls[0].id.rfind("call_", 0), 0u);
  EXPECT_EQ(p.tool_calls[0].id.size(), 29u);
}

TEST(ToolCalls, TwoCallsWhitespaceTolerantUniqueIds) {
  auto p = parse_tool_calls(
      "<tool_call>  {\"name\":\"a\",\"arguments\":{}}  </tool_call>\n\n"
      "<tool_call>\r\n\t{\"arguments\": {\"x\": [1, 2.5, \"中\"]}, \"name\": "
      "\"b\"}\n</tool_call>\n");
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_EQ(p.content, "");
  EXPECT_EQ(p.tool_calls[0].name, "a");
  EXPECT_EQ(p.tool_calls[0].arguments, "{}");
  EXPECT_EQ(p.tool_calls[1].name, "b");
  EXPECT_EQ(p.tool_calls[1].arguments, "{\"x\": [1, 2.5, \"中\"]}");
  EXPECT_NE(p.tool_calls[0].id, p.tool_calls[1].id);
}

TEST(ToolCalls, ArgumentsStringKeptAndMissingIsEmptyObject) {
  auto p = parse_tool_calls(
      "<tool_call>{\"name\": \"a\", \"arguments\": \"{\\\"k\\\": 1}\"}</tool_call>"
      "<tool_call>{\"name\": \"b\"}</tool_call>");
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_EQ(p.tool_calls[0].arguments, "{\"k\": 1}");
  EXPECT_EQ(p.tool_calls[1].arguments, "{}");
}

TEST(ToolCalls, TextAfterBlocksKept) {
  auto p = parse_tool_calls("Intro\n<tool_call>{\"name\": \"a\"}</tool_call>\nOutro  ");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.content, "Intro\nOutro");
}

TEST(ToolCalls, MalformedExtractsNothing) {
  const char* bad[] = {
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}",             // not closed
      "<tool_call>{name: 'a'}</tool_call>",                          // not JSON
      "<tool_call>[\"a\"]</tool_call>",                              // not an object
      "<tool_call>{\"arguments\": {}}</tool_call>",                  // no name
      "<tool_call>{\"name\": \"\"}</tool_call>",                     // empty name
      "<tool_call>{\"name\": \"a\", \"arguments\": 3}</tool_call>",  // bad arguments
      "<tool_call>{\"name\": \"a\"}</tool_call><tool_call>{\"name\": 1}</tool_call>",
      "<tool_call>{\"name\": \"a\"} trailing</tool_call>",
  };
  for (const char* text : bad) {
    auto p = parse_tool_calls(text);
    EXPECT_TRUE(p.malformed) << text;
    EXPECT_TRUE(p.tool_calls.empty()) << text;
    EXPECT_EQ(p.content, text);
    EXPECT_FALSE(p.error.empty());
  }
}

TEST(ToolCalls, MayStartToolCall) {
  EXPECT_TRUE(may_start_tool_call("abc <tool_"));
  EXPECT_TRUE(may_start_tool_call("<"));
  EXPECT_TRUE(may_start_tool_call("x<tool_call>{"));
  EXPECT_FALSE(may_start_tool_call("abc <b>"));
  EXPECT_FALSE(may_start_tool_call("plain"));
}

}  // namespace
}  // namespace qs::tokenizer
