// Matcher behaviour on byte strings (small vocabularies) and masks over the
// real Qwen2.5 vocabulary checked against a token-by-token brute force.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "grammar/structured_output.h"
#include "tokenizer/tokenizer.h"

namespace qs::grammar {
namespace {

using nlohmann::json;

std::shared_ptr<const Vocabulary> byte_vocab() {
  // Tokens: every single byte, plus tool tags; the last id is eos.
  std::vector<std::string> t;
  for (int b = 0; b < 256; ++b) t.push_back(std::string(1, static_cast<char>(b)));
  t.push_back("<tool_call>");
  t.push_back("</tool_call>");
  t.push_back("<eos>");
  return Vocabulary::FromTokens(t, {static_cast<int32_t>(t.size()) - 1}).value();
}

GrammarPtr compile(const json& schema) {
  auto g = compile_json_schema(schema, byte_vocab());
  EXPECT_TRUE(g.ok()) << g.status().message();
  return g.ok() ? g.value() : nullptr;
}

// Whole text accepted and complete.
bool matches(const GrammarPtr& g, const std::string& text) {
  Matcher m(g);
  return m.accept_bytes(text) && m.is_complete();
}

TEST(GrammarTest, ObjectWithRequiredAndOptional) {
  auto g = compile(json::parse(R"({"type":"object","properties":{
      "a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]})"));
  EXPECT_TRUE(matches(g, R"({"a":1})"));
  EXPECT_TRUE(matches(g, R"({"a": -12, "b": "x"})"));
  EXPECT_TRUE(matches(g, "{\n  \"a\": 0,\n  \"b\": \"\"\n}"));
  EXPECT_FALSE(matches(g, R"({"b":"x"})"));
  EXPECT_FALSE(matches(g, R"({"a":1,})"));
  EXPECT_FALSE(matches(g, R"({"a":01})"));
  EXPECT_FALSE(matches(g, R"({"a":1.5})"));
  EXPECT_FALSE(matches(g, R"({"a":1,"c":2})"));
  Matcher m(g);
  ASSERT_TRUE(m.accept_bytes(R"({"a":1)"));
  EXPECT_FALSE(m.is_complete());
  ASSERT_TRUE(m.accept_bytes("}"));
  EXPECT_TRUE(m.is_complete());
  EXPECT_TRUE(m.must_end());
  EXPECT_FALSE(m.can_accept_bytes(" "));  // nothing after the closing brace
}

TEST(GrammarTest, WhitespaceIsBounded) {
  auto g = compile(json::parse(R"({"type":"object","properties":{"a":{"type":"null"}}})"));
  EXPECT_TRUE(matches(g, "{\n" + std::string(16, ' ') + "\"a\": null}"));
  EXPECT_FALSE(matches(g, "{\n" + std::string(17, ' ') + "\"a\": null}"));
  Matcher m(g);
  ASSERT_TRUE(m.accept_bytes("{"));
  // Endless newlines or spaces die after a bounded number.
  int n = 0;
  while (m.accept_bytes("\n") && n < 1000) ++n;
  EXPECT_LT(n, 10);
  Matcher m2(g);
  ASSERT_TRUE(m2.accept_bytes("{"));
  n = 0;
  while (m2.accept_bytes(" ") && n < 1000) ++n;
  EXPECT_LT(n, 10);
}

TEST(GrammarTest, StringLengthCountsCharacters) {
  auto g = compile(json::parse(R"({"type":"string","minLength":2,"maxLength":3})"));
  EXPECT_FALSE(matches(g, "\"a\""));
  EXPECT_TRUE(matches(g, "\"ab\""));
  EXPECT_TRUE(matches(g, "\"\xc3\xa9\xe2\x82\xac\""));  // 2 characters, 5 bytes
  EXPECT_TRUE(matches(g, "\"a\\n\\u00e9\""));           // escapes count once
  EXPECT_FALSE(matches(g, "\"abcd\""));
  EXPECT_FALSE(matches(g, "\"a\x01\""));          // control character
  EXPECT_FALSE(matches(g, "\"a\xc3\""));          // truncated UTF-8
  EXPECT_FALSE(matches(g, "\"\xed\xa0\x80x\""));  // surrogate
  EXPECT_FALSE(matches(g, "\"\\ud800\""));        // lone surrogate escape
}

TEST(GrammarTest, IntegerRangeIsExact) {
  auto g = compile(json::parse(R"({"type":"integer","minimum":-17,"maximum":123})"));
  for (int v = -300; v <= 300; ++v)
    EXPECT_EQ(matches(g, std::to_string(v)), v >= -17 && v <= 123) << v;
  EXPECT_FALSE(matches(g, "007"));
  EXPECT_FALSE(matches(g, "-0"));
  auto ex =
      compile(json::parse(R"({"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10})"));
  for (int v = -5; v <= 15; ++v) EXPECT_EQ(matches(ex, std::to_string(v)), v > 0 && v < 10) << v;
}

TEST(GrammarTest, NumberRange) {
  auto g = compile(json::parse(R"({"type":"number","minimum":0,"maximum":120})"));
  EXPECT_TRUE(matches(g, "0"));
  EXPECT_TRUE(matches(g, "119.99"));
  EXPECT_TRUE(matches(g, "120"));
  EXPECT_TRUE(matches(g, "120.000"));
  EXPECT_FALSE(matches(g, "120.5"));
  EXPECT_FALSE(matches(g, "-1"));
  EXPECT_FALSE(matches(g, "121"));
  EXPECT_FALSE(matches(g, "1e5"));
  auto n = compile(json::parse(R"({"type":"number","minimum":-2.5,"maximum":-1})"));
  EXPECT_TRUE(matches(n, "-1"));
  EXPECT_TRUE(matches(n, "-1.75"));
  EXPECT_FALSE(matches(n, "-3"));
  EXPECT_FALSE(matches(n, "-0.5"));
  auto any = compile(json::parse(R"({"type":"number"})"));
  EXPECT_TRUE(matches(any, "-0.5e-3"));
  EXPECT_TRUE(matches(any, "12E+2"));
  EXPECT_FALSE(matches(any, "1.e3"));
  EXPECT_FALSE(matches(any, "+1"));
  EXPECT_FALSE(matches(any, "1e123"));  // exponent capped at 2 digits
}

TEST(GrammarTest, EnumConstAnyOf) {
  auto g = compile(json::parse(R"({"enum":["red","green",3,null]})"));
  EXPECT_TRUE(matches(g, "\"red\""));
  EXPECT_TRUE(matches(g, "3"));
  EXPECT_TRUE(matches(g, "null"));
  EXPECT_FALSE(matches(g, "\"blue\""));
  auto c = compile(json::parse(R"({"const":{"k":[1,2]}})"));
  EXPECT_TRUE(matches(c, R"({"k":[1,2]})"));
  EXPECT_FALSE(matches(c, R"({"k":[1]})"));
  auto a = compile(json::parse(
      R"({"anyOf":[{"type":"boolean"},{"type":"array","items":{"type":"integer"},"maxItems":2}]})"));
  EXPECT_TRUE(matches(a, "true"));
  EXPECT_TRUE(matches(a, "[1, 2]"));
  EXPECT_TRUE(matches(a, "[]"));
  EXPECT_FALSE(matches(a, "[1,2,3]"));
}

TEST(GrammarTest, ArraysWithPrefixItemsAndBounds) {
  auto g =
      compile(json::parse(R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],
      "items":{"type":"boolean"},"minItems":1,"maxItems":3})"));
  EXPECT_TRUE(matches(g, R"(["a"])"));
  EXPECT_TRUE(matches(g, R"(["a",1,true])"));
  EXPECT_FALSE(matches(g, R"([])"));
  EXPECT_FALSE(matches(g, R"([1])"));
  EXPECT_FALSE(matches(g, R"(["a",1,true,false])"));
  auto closed =
      compile(json::parse(R"({"type":"array","prefixItems":[{"type":"null"}],"items":false})"));
  EXPECT_TRUE(matches(closed, "[null]"));
  EXPECT_TRUE(matches(closed, "[]"));
  EXPECT_FALSE(matches(closed, "[null,null]"));
}

TEST(GrammarTest, RecursiveRef) {
  auto g = compile(json::parse(R"({"$defs":{"node":{"type":"object","properties":{
      "v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},
      "required":["v","next"],"additionalProperties":false}},"$ref":"#/$defs/node"})"));
  // nlohmann::json objects keep keys sorted: properties are written in that order.
  EXPECT_TRUE(matches(g, R"({"next":{"next":null,"v":2},"v":1})"));
  EXPECT_FALSE(matches(g, R"({"next":{"v":2},"v":1})"));
  std::string deep = "null";
  for (int i = 0; i < 50; ++i) deep = "{\"next\":" + deep + ",\"v\":" + std::to_string(i) + "}";
  EXPECT_TRUE(matches(g, deep));
}

TEST(GrammarTest, AllOfMergesObjects) {
  auto g = compile(json::parse(R"({"allOf":[
      {"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
      {"properties":{"b":{"type":"boolean"}},"required":["b"]}]})"));
  EXPECT_TRUE(matches(g, R"({"a":1,"b":true})"));
  EXPECT_FALSE(matches(g, R"({"a":1})"));
  EXPECT_FALSE(matches(g, R"({"b":true})"));
}

TEST(GrammarTest, AdditionalPropertiesSchemaExcludesDeclaredNames) {
  auto g = compile(json::parse(R"({"type":"object","properties":{"id":{"type":"integer"}},
      "required":["id"],"additionalProperties":{"type":"string"}})"));
  EXPECT_TRUE(matches(g, R"({"id":1,"x":"y","idx":"z","i":""})"));
  EXPECT_FALSE(matches(g, R"({"id":1,"id":"y"})"));
  EXPECT_FALSE(matches(g, R"({"id":1,"x":2})"));
  auto map = compile(json::parse(R"({"type":"object","additionalProperties":{"type":"integer"}})"));
  EXPECT_TRUE(matches(map, R"({"a":1,"b":2})"));
  EXPECT_TRUE(matches(map, R"({})"));
  EXPECT_FALSE(matches(map, R"({"a":"x"})"));
}

TEST(GrammarTest, PatternSubset) {
  auto g = compile(json::parse(R"({"type":"string","pattern":"^[a-z]{2,3}-\\d+(\\.[0-9])?$"})"));
  EXPECT_TRUE(matches(g, "\"ab-12\""));
  EXPECT_TRUE(matches(g, "\"abc-1.5\""));
  EXPECT_FALSE(matches(g, "\"a-1\""));
  EXPECT_FALSE(matches(g, "\"abcd-1\""));
  EXPECT_FALSE(matches(g, "\"ab-\""));
  auto un = compile(json::parse(R"({"type":"string","pattern":"x\"y"})"));
  EXPECT_TRUE(matches(un, "\"__x\\\"y__\""));  // unanchored: surrounded by anything
  EXPECT_FALSE(matches(un, "\"xy\""));
  auto alt = compile(json::parse(R"({"type":"string","pattern":"^(cat|dog)s?$"})"));
  EXPECT_TRUE(matches(alt, "\"dogs\""));
  EXPECT_FALSE(matches(alt, "\"cow\""));
  auto neg = compile(json::parse(R"({"type":"string","pattern":"^[^0-9]+$"})"));
  EXPECT_TRUE(matches(neg, "\"a\xc3\xa9\\\"\""));
  EXPECT_FALSE(matches(neg, "\"a1\""));
}

TEST(GrammarTest, Formats) {
  auto date = compile(json::parse(R"({"type":"string","format":"date"})"));
  EXPECT_TRUE(matches(date, "\"2024-02-28\""));
  EXPECT_TRUE(matches(date, "\"1999-12-31\""));
  EXPECT_FALSE(matches(date, "\"2024-02-30\""));
  EXPECT_FALSE(matches(date, "\"2024-13-01\""));
  auto dt = compile(json::parse(R"({"type":"string","format":"date-time"})"));
  EXPECT_TRUE(matches(dt, "\"2024-05-01T13:45:00Z\""));
  EXPECT_TRUE(matches(dt, "\"2024-05-01T13:45:00.123+02:00\""));
  EXPECT_FALSE(matches(dt, "\"2024-05-01 13:45:00Z\""));
  auto uuid = compile(json::parse(R"({"type":"string","format":"uuid"})"));
  EXPECT_TRUE(matches(uuid, "\"123e4567-e89b-12d3-a456-426614174000\""));
  EXPECT_FALSE(matches(uuid, "\"123e4567e89b12d3a456426614174000\""));
  auto email = compile(json::parse(R"({"type":"string","format":"email"})"));
  EXPECT_TRUE(matches(email, "\"a.b+c@example.co.uk\""));
  EXPECT_FALSE(matches(email, "\"a@b\""));
  EXPECT_FALSE(matches(email, "\"@example.com\""));
}

TEST(GrammarTest, AnyJsonObjectAndEmptySchema) {
  auto g = compile_any_json_object(byte_vocab()).value();
  EXPECT_TRUE(matches(g, R"({"a":[1,{"b":null}],"c":"d"})"));
  EXPECT_FALSE(matches(g, "[1]"));
  EXPECT_FALSE(matches(g, R"({"a":})"));
  auto any = compile(json::object());
  EXPECT_TRUE(matches(any, "[1, \"x\", true]"));
  EXPECT_TRUE(matches(any, "-3.5"));
}

TEST(GrammarTest, EosOnlyWhenComplete) {
  auto vocab = byte_vocab();
  const int32_t eos = vocab->eos_ids()[0];
  auto g = compile_json_schema(
               json::parse(
                   R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})"),
               vocab)
               .value();
  Matcher m(g);
  std::vector<uint8_t> mask(vocab->size());
  m.fill_mask(mask.data());
  EXPECT_EQ(mask[eos], 0);
  EXPECT_EQ(mask['{'], 1);
  EXPECT_EQ(mask['['], 0);
  EXPECT_FALSE(m.accept(eos));
  ASSERT_TRUE(m.accept_bytes(R"({"a":12})"));
  m.fill_mask(mask.data());
  int allowed = 0;
  for (uint8_t x : mask) allowed += x;
  EXPECT_EQ(allowed, 1);
  EXPECT_EQ(mask[eos], 1);
  EXPECT_TRUE(m.accept(eos));
  EXPECT_TRUE(m.is_terminated());
  EXPECT_FALSE(m.accept('x'));
  // Tool tags are not text of a plain JSON grammar.
  Matcher s(compile_json_schema(json::parse(R"({"type":"string"})"), vocab).value());
  ASSERT_TRUE(s.accept_bytes("\""));
  s.fill_mask(mask.data());
  EXPECT_EQ(mask[vocab->tool_call_open()], 0);
  EXPECT_EQ(mask['a'], 1);
  EXPECT_FALSE(s.accept(vocab->tool_call_open()));
}

TEST(GrammarTest, ToolCallModes) {
  auto vocab = byte_vocab();
  std::vector<ToolSpec> tools = {
      {"get_weather",
       json::parse(
           R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})")},
      {"add",
       json::parse(
           R"({"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]})")}};
  const std::string call1 =
      "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"x\": 1, \"y\": 2}}\n</tool_call>";
  const std::string call2 =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>";
  auto named = compile_tool_call(tools, ToolMode::kNamed, "add", vocab).value();
  EXPECT_TRUE(matches(named, call1));
  EXPECT_FALSE(matches(named, call2));
  EXPECT_FALSE(matches(named, call1 + "\n" + call1));
  auto req = compile_tool_call(tools, ToolMode::kRequired, "", vocab).value();
  EXPECT_TRUE(matches(req, call1));
  EXPECT_TRUE(matches(req, call2 + "\n" + call1));
  EXPECT_FALSE(matches(req, "hello"));
  EXPECT_FALSE(compile_tool_call(tools, ToolMode::kNamed, "nope", vocab).ok());
  // The <tool_call> token itself starts a call.
  Matcher t(named);
  EXPECT_TRUE(t.accept(vocab->tool_call_open()));
  EXPECT_TRUE(t.accept_bytes("\n{\"name\": \"add\", \"arguments\": {\"x\": 1, \"y\": 2}}\n"));
  EXPECT_TRUE(t.accept(vocab->tool_call_close()));
  EXPECT_TRUE(t.is_complete());
  // auto: free text (eos allowed) until <tool_call>, then a forced call.
  auto aut = compile_tool_call(tools, ToolMode::kAuto, "", vocab).value();
  Matcher a(aut);
  EXPECT_TRUE(a.in_free_text());
  EXPECT_TRUE(a.accept('H'));
  EXPECT_TRUE(a.accept(vocab->tool_call_open()));
  EXPECT_FALSE(a.in_free_text());
  EXPECT_FALSE(a.accept('H'));
  EXPECT_TRUE(
      a.accept_bytes("\n{\"name\": \"add\", \"arguments\": {\"x\": 1, \"y\": 2}}\n</tool_call>"));
  EXPECT_TRUE(a.is_complete());
  Matcher text(aut);
  EXPECT_TRUE(text.accept('H'));
  EXPECT_TRUE(text.accept(vocab->eos_ids()[0]));
}

TEST(GrammarTest, TokenBudgetForcesTheShortestCompletion) {
  auto vocab = byte_vocab();
  auto g = compile_json_schema(json::parse(R"({"type":"object","properties":{
      "s":{"type":"string"},"n":{"type":"array","items":{"type":"integer"},"minItems":2}},
      "required":["s","n"]})"),
                               vocab)
               .value();
  Matcher m(g);
  EXPECT_EQ(m.min_completion_bytes(),
            static_cast<int32_t>(std::string(R"({"n":[0,0],"s":""})").size()));
  ASSERT_TRUE(m.accept_bytes(R"({"n":[1,2],"s":"abc)"));
  EXPECT_EQ(m.min_completion_bytes(), 2);
  std::vector<uint8_t> mask(vocab->size());
  m.fill_mask(mask.data());  // no budget: any string character
  EXPECT_EQ(mask['x'], 1);
  m.fill_mask(mask.data(), 10);  // tight: only the shortest completion's prefixes
  int allowed = 0;
  for (uint8_t x : mask) allowed += x;
  EXPECT_EQ(allowed, 1);
  EXPECT_EQ(mask['"'], 1);
  // Greedy generation under a budget always ends in time.
  for (int budget : {11, 15, 60, 200}) {  // 11 = the 10 bytes left + eos
    Matcher b(g);
    ASSERT_TRUE(b.accept_bytes(R"({"n":[1,2,)"));
    int used = 0;
    while (!b.is_terminated() && used < budget) {
      b.fill_mask(mask.data(), budget - used);
      int32_t pick = -1;
      for (int32_t t = vocab->size() - 1; t >= 0; --t)  // prefer eos, then high bytes
        if (mask[t]) {
          pick = t;
          break;
        }
      ASSERT_GE(pick, 0);
      ASSERT_TRUE(b.accept(pick));
      ++used;
    }
    EXPECT_TRUE(b.is_terminated()) << budget;
  }
}

TEST(GrammarTest, CacheReturnsSameGrammar) {
  GrammarCache cache(byte_vocab(), 2);
  json s = json::parse(R"({"type":"integer"})");
  auto a = cache.json_schema(s).value();
  auto b = cache.json_schema(json::parse(R"({ "type" : "integer" })")).value();
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_FALSE(cache.json_schema(json::parse(R"({"type":"integer","multipleOf":2})")).ok());
}

// ---- real vocabulary ----

std::shared_ptr<const Vocabulary> real_vocab() {
  static std::shared_ptr<const Vocabulary> v = [] {
    auto tok = tokenizer::Tokenizer::Load(QS_TOKENIZER_DATA);
    if (!tok.ok()) return std::shared_ptr<const Vocabulary>();
    return Vocabulary::FromTokenizer(**tok, 151936).value();
  }();
  return v;
}

// The mask must equal "the token's bytes can be accepted" for every token.
void expect_mask_exact(Matcher& m, const Vocabulary& v) {
  std::vector<uint8_t> mask(v.size());
  m.fill_mask(mask.data());
  int wrong = 0, allowed = 0;
  for (int32_t t = 0; t < v.size(); ++t) {
    bool expect;
    if (v.is_eos(t))
      expect = m.is_complete();
    else if (!v.usable(t) || v.bytes(t).empty() || t == v.tool_call_open() ||
             t == v.tool_call_close())
      expect = false;
    else
      expect = m.can_accept_bytes(v.bytes(t));
    allowed += mask[t];
    if (mask[t] != expect && ++wrong < 5)
      ADD_FAILURE() << "token " << t << " '" << v.bytes(t) << "' mask " << int(mask[t]);
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(allowed, 0);
}

TEST(GrammarRealVocabTest, MaskEqualsBruteForce) {
  auto v = real_vocab();
  if (!v) GTEST_SKIP() << "no tokenizer data";
  ASSERT_EQ(v->size(), 151936);
  auto g = compile_json_schema(json::parse(R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":5},"age":{"type":"integer","minimum":0,"maximum":150},
      "tags":{"type":"array","items":{"enum":["a","bc"]}},"ok":{"type":"boolean"}},
      "required":["name","age"]})"),
                               v)
               .value();
  Matcher m(g);
  const char* steps[] = {
      "",       "{", "\"age\"", ": 1", "2", ", \"name\": \"ab", "c\"", ", \"tags\": [",
      "\"bc\"", "]", "}"};
  for (const char* s : steps) {
    ASSERT_TRUE(m.accept_bytes(s)) << s;
    SCOPED_TRACE(s);
    expect_mask_exact(m, *v);
  }
  // Complete: only eos.
  std::vector<uint8_t> mask(v->size());
  m.fill_mask(mask.data());
  int allowed = 0;
  for (int32_t t = 0; t < v->size(); ++t) allowed += mask[t];
  EXPECT_EQ(allowed, static_cast<int>(v->eos_ids().size()));
  for (int32_t t = 151643; t < v->size(); ++t)
    if (!v->is_eos(t)) {
      EXPECT_EQ(mask[t], 0) << t;
    }
}

TEST(GrammarRealVocabTest, MaskInsideFreeStringAllowsMostTokens) {
  auto v = real_vocab();
  if (!v) GTEST_SKIP() << "no tokenizer data";
  auto g =
      compile_json_schema(
          json::parse(R"({"type":"object","properties":{"s":{"type":"string"}},"required":["s"]})"),
          v)
          .value();
  Matcher m(g);
  ASSERT_TRUE(m.accept_bytes("{\"s\": \"hello"));
  expect_mask_exact(m, *v);
  std::vector<uint8_t> mask(v->size());
  m.fill_mask(mask.data());
  int allowed = 0;
  for (uint8_t x : mask) allowed += x;
  EXPECT_GT(allowed, 100000);
  // Tokens like `"}` end the string and the object at once.
  auto id = [&](const std::string& s) {
    for (int32_t t = 0; t < v->size(); ++t)
      if (v->bytes(t) == s && v->usable(t)) return t;
    return -1;
  };
  int32_t close = id("\"}");
  ASSERT_GE(close, 0);
  EXPECT_EQ(mask[close], 1);
  int32_t comma = id("\",");
  ASSERT_GE(comma, 0);
  EXPECT_EQ(mask[comma], 0);  // no further property exists
}

}  // namespace
}  // namespace qs::grammar
