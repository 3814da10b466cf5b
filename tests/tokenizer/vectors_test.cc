// Every test vector in the shared qwen2-tokenizer folder (see its SOURCES.md).
// Counts are asserted so that a missing or truncated file fails loudly.
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tokenizer/pretokenizer.h"

namespace qs::tokenizer {
namespace {

using testing::data_dir;
using testing::read_file;
using Json = nlohmann::json;

Json load_json(const std::string& rel) {
  std::string path = data_dir() + "/" + rel;
  std::string text = read_file(path);
  EXPECT_FALSE(text.empty()) << "missing test data: " << path;
  Json j = Json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "bad JSON: " << path;
  return j;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

TEST(TokenizerVectors, DataFolderExists) {
  ASSERT_TRUE(std::filesystem::is_directory(data_dir()))
      << "tokenizer test data folder missing: " << data_dir();
}

TEST(TokenizerVectors, LlamaCpp) {
  QS_REQUIRE_TOKENIZER(tok);
  std::string inp = read_file(data_dir() + "/llama.cpp/ggml-vocab-qwen2.gguf.inp");
  std::string out = read_file(data_dir() + "/llama.cpp/ggml-vocab-qwen2.gguf.out");
  ASSERT_FALSE(inp.empty());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t i = 0;;) {
    size_t e = inp.find(sep, i);
    if (e == std::string::npos) break;
    texts.push_back(inp.substr(i, e - i));
    i = e + sep.size();
  }
  std::vector<std::vector<int32_t>> expected;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    expected.push_back(ids);
  }
  ASSERT_EQ(texts.size(), 46u);
  ASSERT_EQ(expected.size(), 46u);
  int pass = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = tok->encode(texts[i], /*allow_special=*/false);
    EXPECT_EQ(ids, expected[i]) << "case " << i << " '" << texts[i] << "' got" << show(ids);
    pass += ids == expected[i];
  }
  EXPECT_EQ(pass, 46);
}

TEST(TokenizerVectors, TransformersJs) {
  QS_REQUIRE_TOKENIZER(tok);
  Json j = load_json("test-vectors/transformersjs_qwen2.json");
  ASSERT_EQ(j["cases"].size(), 25u);
  int pass = 0;
  for (const Json& c : j["cases"]) {
    const std::string text = c["text"];
    auto ids = tok->encode(text);
    auto want = c["ids"].get<std::vector<int32_t>>();
    std::vector<std::string> pieces;
    for (int32_t id : ids) pieces.push_back(tok->token_piece(id));
    bool ok = ids == want && pieces == c["tokens"].get<std::vector<std::string>>() &&
              tok->decode(ids) == c["decoded"].get<std::string>();
    EXPECT_TRUE(ok) << c["name"] << " got" << show(ids);
    pass += ok;
  }
  EXPECT_EQ(pass, 25);
}

TEST(TokenizerVectors, HfTransformers) {
  QS_REQUIRE_TOKENIZER(tok);
  Json j = load_json("test-vectors/hf_transformers_qwen2_integration.json");
  ASSERT_EQ(j["cases"].size(), 3u);
  for (const Json& c : j["cases"]) {
    auto ids = tok->encode(c["text"].get<std::string>());
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << c["text"];
  }
}

TEST(TokenizerVectors, Golden) {
  QS_REQUIRE_TOKENIZER(tok);
  Json j = load_json("test-vectors/golden_tokens_qwen2.5-0.5b.json");
  ASSERT_EQ(j.size(), 51u);
  int pass = 0;
  for (const Json& c : j) {
    auto ids = tok->encode(c["text"].get<std::string>(), /*allow_special=*/true);
    auto want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(ids, want) << c["text"];
    pass += ids == want;
  }
  EXPECT_EQ(pass, 51);
}

TEST(TokenizerVectors, MiscSmall) {
  QS_REQUIRE_TOKENIZER(tok);
  Json j = load_json("test-vectors/misc_small_vectors.json");
  ASSERT_EQ(j["cases"].size(), 17u);
  for (const Json& c : j["cases"]) {
    auto ids = tok->encode(c["text"].get<std::string>(), c["parse_special"].get<bool>());
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << c["text"];
  }
}

TEST(TokenizerVectors, PreTokenizerOracle) {
  Json j = load_json("test-vectors/pretokenizer_split_oracle_qwen2.json");
  ASSERT_EQ(j["cases"].size(), 19u);
  for (const Json& c : j["cases"]) {
    const std::string text = c["text"];
    std::vector<std::string> got;
    for (auto p : pretokenize(text)) got.emplace_back(p);
    EXPECT_EQ(got, c["pieces"].get<std::vector<std::string>>()) << text;
  }
}

// Special-token text is only recognised when the caller allows it.
TEST(TokenizerVectors, SpecialTokensOnlyWhenAllowed) {
  QS_REQUIRE_TOKENIZER(tok);
  const std::string text = "<|im_start|>user\nhi<|im_end|>";
  auto with = tok->encode(text, true);
  auto without = tok->encode(text, false);
  EXPECT_EQ(with.front(), 151644);
  EXPECT_EQ(with.back(), 151645);
  for (int32_t id : without) EXPECT_LT(id, 151643);
  EXPECT_EQ(tok->decode(without), text);
  EXPECT_EQ(tok->decode(with), text);
}

}  // namespace
}  // namespace qs::tokenizer
