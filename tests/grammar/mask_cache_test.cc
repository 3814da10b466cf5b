// The precomputed/shared token-mask parts (one vocabulary walk per set of top
// positions, the per-vocabulary store keyed by canonical sub-grammar text, the
// subtree-skip table) must give exactly the masks of a token-by-token brute
// force: random walks over the whole schema corpus with the real vocabulary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "grammar/structured_output.h"
#include "tokenizer/tokenizer.h"

namespace qs::grammar {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::shared_ptr<const Vocabulary> load_vocab() {
  auto tok = tokenizer::Tokenizer::Load(QS_TOKENIZER_DATA);
  if (!tok.ok()) return nullptr;
  return Vocabulary::FromTokenizer(**tok, 151936).value();
}

std::vector<json> corpus() {
  std::vector<fs::path> files;
  for (const auto& e :
       fs::directory_iterator(std::string(QS_SOURCE_DIR) + "/tests/grammar/schemas"))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<json> out;
  for (const auto& f : files) out.push_back(json::parse(std::ifstream(f)));
  return out;
}

// Number of tokens whose mask bit differs from "the grammar accepts its bytes".
int mask_errors(Matcher& m, const Vocabulary& v, const std::vector<uint8_t>& mask) {
  int wrong = 0;
  for (int32_t t = 0; t < v.size(); ++t) {
    bool expect;
    if (v.is_eos(t))
      expect = m.is_complete();
    else if (!v.usable(t) || v.bytes(t).empty() || t == v.tool_call_open() ||
             t == v.tool_call_close())
      expect = false;
    else
      expect = m.can_accept_bytes(v.bytes(t));
    if (mask[t] != expect && ++wrong <= 3)
      ADD_FAILURE() << "token " << t << " '" << v.bytes(t) << "' mask " << int(mask[t]);
  }
  return wrong;
}

TEST(MaskCacheTest, NextSmallerLcp) {
  // lcp:        0  1  3  3  1  2  0
  std::vector<uint16_t> lcp = {0, 1, 3, 3, 1, 2, 0};
  std::vector<int32_t> want = {7, 6, 4, 4, 6, 6, 7};
  EXPECT_EQ(next_smaller_lcp(lcp), want);
}

TEST(MaskCacheTest, SubtreeSkipOnSmallVocabulary) {
  // Many tokens under rejected prefixes; the accepted ones sit between them.
  std::vector<std::string> t = {"<eos>"};
  for (char a : std::string("\"0123456789abc{}[], "))
    for (char b : std::string("\"0123456789xyz}"))
      for (const char* c : {"", "1", "22", "x"}) t.push_back(std::string(1, a) + b + c);
  auto v = Vocabulary::FromTokens(t, {0}).value();
  auto g = compile_json_schema(json::parse(R"({"type":"object","properties":{
      "n":{"type":"integer"},"s":{"type":"string","maxLength":3}},"required":["n","s"]})"),
                               v)
               .value();
  Matcher m(g);
  std::vector<uint8_t> mask(v->size());
  for (const char* s : {"{", "\"n\"", ": 1", "2", ", \"s\": \"", "a", "b"}) {
    ASSERT_TRUE(m.accept_bytes(s)) << s;
    m.fill_mask(mask.data());
    EXPECT_EQ(mask_errors(m, *v, mask), 0) << "after " << s;
  }
}

TEST(MaskCacheTest, CorpusRandomWalksMatchBruteForce) {
  auto v = load_vocab();
  if (!v) GTEST_SKIP() << "no tokenizer data";
  std::vector<json> schemas = corpus();
  ASSERT_GE(schemas.size(), 72u);
  std::mt19937_64 rng(7);
  std::vector<uint8_t> mask(v->size());
  size_t checked = 0, shared_hits = 0;
  for (size_t k = 0; k < schemas.size(); ++k) {
    SCOPED_TRACE("schema " + schemas[k].dump().substr(0, 80));
    GrammarPtr g = compile_json_schema(schemas[k], v).value();
    Matcher m(g);
    // Every step for the first 6, then every 4th: long strings and
    // whitespace runs reach the bounded-length and indentation states.
    for (int step = 0; step < 40 && !m.is_terminated(); ++step) {
      size_t before = g->masks_computed();
      m.fill_mask(mask.data());
      if (step < 6 || step % 4 == 0) {
        ASSERT_EQ(mask_errors(m, *v, mask), 0) << "step " << step;
        ++checked;
      }
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < v->size(); ++t)
        if (mask[t]) allowed.push_back(t);
      ASSERT_FALSE(allowed.empty());
      // Prefer ending once the value may end, so walks finish.
      int32_t pick = allowed[rng() % allowed.size()];
      if (step > 30 && m.is_complete()) pick = v->eos_ids()[0];
      ASSERT_TRUE(m.accept(pick));
      if (g->masks_computed() == before) ++shared_hits;
    }
  }
  EXPECT_GT(checked, 500u);
  EXPECT_GT(shared_hits, 0u);
}

TEST(MaskCacheTest, StructurallyEqualSubGrammarsShareOneKey) {
  auto v = Vocabulary::FromTokens({"<eos>", "\"", "a", "b", "{", "}"}, {0}).value();
  auto key_in_string = [&](const json& schema, const std::string& prefix) {
    GrammarPtr g = compile_json_schema(schema, v).value();
    StackArena arena(g->flat());
    int32_t s = arena.initial();
    for (char c : prefix) s = arena.step(s, static_cast<uint8_t>(c));
    EXPECT_NE(s, StackArena::kDead);
    std::vector<int32_t> tops;
    for (int32_t st : arena.stacks(s))
      if (st >= 0) tops.push_back(static_cast<int32_t>(arena.top(st)));
    std::sort(tops.begin(), tops.end());
    tops.erase(std::unique(tops.begin(), tops.end()), tops.end());
    return g->canonical_key(tops);
  };
  json free_string = json::parse(R"({"type":"string"})");
  json in_object = json::parse(R"({"type":"object","properties":{"x":{"type":"string"},
      "y":{"type":"integer"}},"required":["x","y"]})");
  std::string a = key_in_string(free_string, "\"ab");
  std::string b = key_in_string(in_object, "{\"x\":\"ba");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);  // the string body does not see what follows the string
  std::string c = key_in_string(json::parse(R"({"type":"string","maxLength":5})"), "\"ab");
  std::string d = key_in_string(json::parse(R"({"type":"string","maxLength":6})"), "\"ab");
  EXPECT_NE(a, c);
  EXPECT_NE(c, d);  // 3 vs 4 characters left
  std::string e = key_in_string(json::parse(R"({"type":"string","maxLength":6})"), "\"abb");
  EXPECT_EQ(c, key_in_string(json::parse(R"({"type":"string","maxLength":5})"), "\"ab"));
  EXPECT_NE(d, e);
}

}  // namespace
}  // namespace qs::grammar
