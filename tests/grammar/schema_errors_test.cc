// Unsupported keywords, invalid schemas and impossible or unbounded schemas:
// an error that names the problem (never unconstrained output), never a hang.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "grammar/structured_output.h"

namespace qs::grammar {
namespace {

using nlohmann::json;

std::shared_ptr<const Vocabulary> vocab() {
  std::vector<std::string> t;
  for (int b = 0; b < 256; ++b) t.push_back(std::string(1, static_cast<char>(b)));
  t.push_back("<eos>");
  return Vocabulary::FromTokens(t, {256}).value();
}

std::string error_of(const std::string& schema) {
  auto g = compile_json_schema(json::parse(schema), vocab());
  return g.ok() ? std::string("OK") : g.status().message();
}

void expect_error(const std::string& schema, const std::string& needle) {
  std::string e = error_of(schema);
  EXPECT_NE(e, "OK") << schema;
  EXPECT_NE(e.find(needle), std::string::npos) << schema << " -> " << e;
}

TEST(SchemaErrorsTest, UnsupportedKeywordsAreNamed) {
  expect_error(R"({"type":"integer","multipleOf":3})", "'multipleOf'");
  expect_error(R"({"type":"object","patternProperties":{"^a":{}}})", "'patternProperties'");
  expect_error(R"({"type":"array","uniqueItems":true})", "'uniqueItems'");
  expect_error(R"({"not":{"type":"null"}})", "'not'");
  expect_error(R"({"if":{},"then":{}})", "'if'");
  expect_error(
      R"({"type":"object","properties":{"a":{"type":"string","contentEncoding":"base64"}}})",
      "/properties/a: unsupported keyword 'contentEncoding'");
  expect_error(R"({"type":"string","format":"ipv4"})", "'format' 'ipv4'");
  expect_error(R"x({"type":"string","pattern":"(a)\\1"})x", "escape '\\1'");
  expect_error(R"x({"type":"string","pattern":"a(?=b)"})x", "lookaround");
  expect_error(R"({"$ref":"https://example.com/s.json"})", "only local references");
}

TEST(SchemaErrorsTest, InvalidSchemasAreNamed) {
  expect_error(R"({"type":"integr"})", "unknown type 'integr'");
  expect_error(R"({"type":"object","required":"a"})", "'required' must be an array");
  expect_error(R"({"type":"string","minLength":-1})", "'minLength'");
  expect_error(R"({"type":"string","pattern":"[a-"})", "missing ']'");
  expect_error(R"({"$ref":"#/$defs/missing"})", "does not resolve");
  expect_error(R"({"enum":"a"})", "'enum' must be an array");
  expect_error(R"({"type":"integer","minimum":"3"})", "'minimum' must be a number");
  expect_error(R"(3)", "must be an object or a boolean");
}

TEST(SchemaErrorsTest, ImpossibleSchemas) {
  expect_error(R"({"type":"string","minLength":5,"maxLength":2})", "'minLength' > 'maxLength'");
  expect_error(R"({"type":"integer","minimum":5,"maximum":2})", "minimum > maximum");
  expect_error(R"({"type":"array","minItems":3,"maxItems":1})", "'minItems' > 'maxItems'");
  expect_error(R"({"enum":[]})", "no value");
  expect_error(R"(false)", "no finite value");
  expect_error(R"({"type":"string","enum":[1,2]})", "no value");
  expect_error(R"({"allOf":[{"const":1},{"const":2}]})", "disagree on 'const'");
  // A required self-reference has no finite instance: an error, not a hang.
  expect_error(R"({"type":"object","properties":{"next":{"$ref":"#"}},"required":["next"]})",
               "no finite value");
  expect_error(
      R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})",
      "no finite value");
  expect_error(R"x({"type":"string","pattern":"^(a*)*$"})x", "left-recursive");
  expect_error(R"({"oneOf":[{"type":"integer"},{"type":"number"}]})",
               "'oneOf' branches may overlap");
}

TEST(SchemaErrorsTest, UnboundedButFiniteSchemasCompileAndRun) {
  // Optional recursion: the alternative that stops keeps every state finishable.
  auto g = compile_json_schema(
      json::parse(R"({"type":"object","properties":{"child":{"$ref":"#"}}})"), vocab());
  ASSERT_TRUE(g.ok()) << g.status().message();
  Matcher m(g.value());
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "{\"child\":";
  ASSERT_TRUE(m.accept_bytes(deep));
  EXPECT_FALSE(m.is_complete());
  ASSERT_TRUE(m.accept_bytes("{}" + std::string(200, '}')));
  EXPECT_TRUE(m.is_complete());
  // anyOf with an impossible branch: the branch is dropped.
  auto a = compile_json_schema(
      json::parse(
          R"({"anyOf":[{"type":"object","properties":{"x":{"$ref":"#/anyOf/0"}},"required":["x"]},{"type":"null"}]})"),
      vocab());
  ASSERT_TRUE(a.ok()) << a.status().message();
  Matcher n(a.value());
  EXPECT_FALSE(n.can_accept_bytes("{"));
  EXPECT_TRUE(n.accept_bytes("null"));
}

TEST(SchemaErrorsTest, OneOfDisjointBranchesCompile) {
  EXPECT_EQ(error_of(R"({"oneOf":[{"type":"integer"},{"type":"string"}]})"), "OK");
  EXPECT_EQ(error_of(R"({"oneOf":[{"const":"a"},{"enum":["b","c"]}]})"), "OK");
  EXPECT_EQ(error_of(R"({"oneOf":[
      {"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"required":["kind","r"]},
      {"type":"object","properties":{"kind":{"const":"square"},"side":{"type":"number"}},"required":["kind","side"]}]})"),
            "OK");
}

}  // namespace
}  // namespace qs::grammar
