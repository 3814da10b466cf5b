// The tokenizer through GGUF metadata: the real Qwen2.5 tokenizer directory ->
// tokenizer.ggml.* (as `quantize` writes it) -> a GGUF file in memory -> a
// Tokenizer, which must encode, decode and render chats exactly as the
// directory tokenizer does; and hostile metadata gives errors naming the file
// and the key, never a crash. (Its own binary: it needs formats and cli's adapter.)
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/gguf_tokenizer.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"

namespace qs {
namespace {

using tokenizer::testing::data_dir;
using tokenizer::testing::read_file;
using tokenizer::testing::shared_tokenizer;

constexpr int64_t kVocab = 151936;  // Qwen2.5-0.5B's embedding rows
const std::string kName = "model-under-test.gguf";

Qwen2Config qwen_config() {
  Qwen2Config c;
  c.vocab_size = kVocab;
  c.bos_token_id = 151643;
  c.eos_token_ids = {151645};
  return c;
}

const GgufTokenizer& dir_metadata() {
  static const GgufTokenizer t = [] {
    auto r = cli::gguf_tokenizer_from_dir(data_dir(), qwen_config());
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : GgufTokenizer{};
  }();
  return t;
}

void add_embedding(GgufWriter* w, uint64_t rows) {
  ASSERT_TRUE(
      w->add_tensor("token_embd.weight", {1, rows}, GgmlType::kF32, std::vector<uint8_t>(rows * 4))
          .ok());
}

// A parsed in-memory GGUF; the bytes live as long as the holder.
struct Parsed {
  std::vector<uint8_t> bytes;
  Result<std::unique_ptr<GgufFile>> file = Status::Error("unset");
};
std::unique_ptr<Parsed> parse(const GgufWriter& w) {
  auto p = std::make_unique<Parsed>();
  p->bytes = w.serialize();
  p->file = GgufFile::FromMemory(p->bytes.data(), p->bytes.size(), kName);
  return p;
}

// GGUF metadata -> Tokenizer, as `-m X.gguf` does it.
Result<std::unique_ptr<tokenizer::Tokenizer>> load(const GgufFile& f) {
  QS_ASSIGN_OR_RETURN(GgufTokenizer t, read_gguf_tokenizer(f));
  return cli::tokenizer_from_gguf(std::move(t), f.path());
}

Result<std::unique_ptr<tokenizer::Tokenizer>> load_written(const GgufTokenizer& t,
                                                           uint64_t rows = kVocab,
                                                           const char* arch = "qwen2") {
  GgufWriter w;
  w.add_string("general.architecture", arch);
  write_gguf_tokenizer(t, &w);
  if (rows > 0) add_embedding(&w, rows);
  auto p = parse(w);
  if (!p->file.ok()) return p->file.status();
  return load(*p->file.value());
}

const tokenizer::Tokenizer* gguf_tokenizer() {
  static std::unique_ptr<tokenizer::Tokenizer> tok = [] {
    auto r = load_written(dir_metadata());
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return tok.get();
}

TEST(GgufTokenizer, WritesWhatLlamaCppWritesForQwen2) {
  const GgufTokenizer& t = dir_metadata();
  EXPECT_EQ(t.model, "gpt2");
  EXPECT_EQ(t.pre, "qwen2");
  ASSERT_EQ(t.tokens.size(), static_cast<size_t>(kVocab));
  ASSERT_EQ(t.types.size(), static_cast<size_t>(kVocab));
  EXPECT_EQ(t.tokens[0], "!");
  EXPECT_EQ(t.types[0], 1);
  EXPECT_EQ(t.tokens[9707], "Hello");
  EXPECT_EQ(t.tokens[151643], "<|endoftext|>");
  EXPECT_EQ(t.types[151643], 3);  // special added token: control
  EXPECT_EQ(t.tokens[151645], "<|im_end|>");
  EXPECT_EQ(t.types[151645], 3);
  EXPECT_EQ(t.tokens[151657], "<tool_call>");
  EXPECT_EQ(t.types[151657], 4);  // non-special added token: user-defined
  EXPECT_EQ(t.tokens[151664], "<|file_sep|>");
  EXPECT_EQ(t.types[151664], 4);
  EXPECT_EQ(t.tokens[151665], "[PAD151665]");  // holes up to the embedding rows
  EXPECT_EQ(t.types[151665], 5);
  EXPECT_EQ(t.tokens[kVocab - 1], "[PAD151935]");
  EXPECT_EQ(t.types[kVocab - 1], 5);
  // merges.txt without its "#version" header, in order.
  const std::string merges = read_file(data_dir() + "/merges.txt");
  ASSERT_EQ(t.merges.size(), 151387u);
  const size_t l1 = merges.find('\n') + 1, l2 = merges.find('\n', l1);
  EXPECT_EQ(t.merges[0], merges.substr(l1, l2 - l1));
  const size_t last = merges.rfind('\n', merges.size() - 2) + 1;
  EXPECT_EQ(t.merges.back(), merges.substr(last, merges.size() - 1 - last));
  EXPECT_EQ(t.eos_id, 151645);  // tokenizer_config eos_token <|im_end|>
  EXPECT_EQ(t.pad_id, 151643);  // pad_token <|endoftext|>
  EXPECT_EQ(t.bos_id, 151643);  // bos_token null: config.json bos_token_id
  EXPECT_EQ(t.add_bos, false);
  EXPECT_FALSE(t.add_eos.has_value());
  auto cfg = nlohmann::json::parse(read_file(data_dir() + "/tokenizer_config.json"));
  EXPECT_EQ(t.chat_template, cfg["chat_template"].get<std::string>());
}

TEST(GgufTokenizer, MetadataSurvivesTheFile) {
  GgufWriter w;
  w.add_string("general.architecture", "qwen2");
  write_gguf_tokenizer(dir_metadata(), &w);
  auto p = parse(w);
  ASSERT_TRUE(p->file.ok()) << p->file.status().message();
  auto back = read_gguf_tokenizer(*p->file.value());
  ASSERT_TRUE(back.ok()) << back.status().message();
  const GgufTokenizer& a = dir_metadata();
  const GgufTokenizer& b = back.value();
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.types, b.types);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.pad_id, b.pad_id);
  EXPECT_EQ(a.add_bos, b.add_bos);
  EXPECT_EQ(a.chat_template, b.chat_template);
}

TEST(GgufTokenizer, SameTokenizerAsTheDirectory) {
  const tokenizer::Tokenizer* dir = shared_tokenizer();
  const tokenizer::Tokenizer* gguf = gguf_tokenizer();
  ASSERT_TRUE(dir && gguf);
  EXPECT_EQ(gguf->vocab_size(), dir->vocab_size());
  EXPECT_EQ(gguf->vocab_size(), 151665);
  EXPECT_EQ(gguf->eos_id(), dir->eos_id());
  EXPECT_EQ(gguf->stop_ids(), dir->stop_ids());
  EXPECT_EQ(gguf->chat_template(), dir->chat_template());
  for (int32_t id = 0; id < dir->vocab_size(); ++id) {
    ASSERT_EQ(gguf->token_bytes(id), dir->token_bytes(id)) << id;
    ASSERT_EQ(gguf->is_added(id), dir->is_added(id)) << id;
    ASSERT_EQ(gguf->is_special(id), dir->is_special(id)) << id;
  }
  const std::vector<std::string> texts = {
      "Hello world",
      "The quick brown fox jumps over the lazy dog. 1234567890 3.14159",
      "你好，世界！今天天气很好。我们去公园散步吧。",
      "日本語のテキストと한국어 텍스트, and émojis 🤖🎉👍🏽",
      "def f(x):\n    return [i ** 2 for i in range(x)]  # squares\n\n\tif x != 0: pass",
      "   leading spaces, trailing spaces   \n\n\n",
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
      "<tool_call>\n{\"name\": \"f\"}\n</tool_call><|fim_prefix|>x<|endoftext|>",
      std::string("bad utf-8: \xff\xfe \xc3 end"),
      "e\xcc\x81 (NFC) vs \xc3\xa9",
  };
  for (const std::string& s : texts) {
    for (bool special : {false, true}) {
      const auto ids = dir->encode(s, special);
      EXPECT_EQ(gguf->encode(s, special), ids) << s;
      for (bool skip : {false, true}) {
        EXPECT_EQ(gguf->decode(ids, skip), dir->decode(ids, skip)) << s;
        EXPECT_EQ(gguf->decode_bytes(ids, skip), dir->decode_bytes(ids, skip)) << s;
      }
    }
  }
}

TEST(GgufTokenizer, LlamaCppVectors) {
  const tokenizer::Tokenizer* gguf = gguf_tokenizer();
  ASSERT_TRUE(gguf);
  const std::string inp = read_file(data_dir() + "/llama.cpp/ggml-vocab-qwen2.gguf.inp");
  const std::string out = read_file(data_dir() + "/llama.cpp/ggml-vocab-qwen2.gguf.out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t i = 0, e; (e = inp.find(sep, i)) != std::string::npos; i = e + sep.size())
    texts.push_back(inp.substr(i, e - i));
  std::istringstream lines(out);
  size_t n = 0;
  for (std::string line; std::getline(lines, line) && n < texts.size(); ++n) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    EXPECT_EQ(gguf->encode(texts[n]), ids) << "case " << n;
  }
  EXPECT_EQ(n, 46u);
}

TEST(GgufTokenizer, ChatTemplateRendersTheSameIds) {
  const tokenizer::Tokenizer* dir = shared_tokenizer();
  const tokenizer::Tokenizer* gguf = gguf_tokenizer();
  ASSERT_TRUE(dir && gguf);
  using tokenizer::ChatMessage;
  auto ex = nlohmann::ordered_json::parse(
      read_file(data_dir() + "/chat-template/qwen2.5_tool_calling_example.json"));
  std::vector<ChatMessage> msgs = {
      {"system", "You are terse.", {}},
      {"user", "什么是 <|im_end|> ? Write `x = 1`.", {}},
      {"assistant", std::nullopt, {tokenizer::ChatToolCall::FromOpenAI("f", "{\"a\": 1}")}},
      {"tool", "{\"ok\": true}", {}},
  };
  const std::vector<const nlohmann::ordered_json*> tool_sets = {nullptr, &ex["tools"]};
  for (const nlohmann::ordered_json* tools : tool_sets) {
    auto segs = tokenizer::render_chat_segments(msgs, tools, true);
    ASSERT_TRUE(segs.ok()) << segs.status().message();
    auto a = dir->encode_segments(segs.value());
    auto b = gguf->encode_segments(segs.value());
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(b.value(), a.value());
    EXPECT_GT(a.value().size(), 20u);
  }
}

TEST(GgufTokenizer, OldWritersUserDefinedPadHolesAreHoles) {
  GgufTokenizer t = dir_metadata();
  for (size_t id = 151665; id < t.types.size(); ++id) t.types[id] = 4;
  auto tok = load_written(t);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ(tok.value()->vocab_size(), 151665);
  EXPECT_EQ(tok.value()->encode("[PAD151700]", true), shared_tokenizer()->encode("[PAD151700]"));
}

// ---- hostile metadata ----

// The error of loading `t` (written with write_gguf_tokenizer); "" if it loads.
std::string error_of(const GgufTokenizer& t, uint64_t rows = kVocab, const char* arch = "qwen2") {
  auto r = load_written(t, rows, arch);
  return r.ok() ? "" : r.status().message();
}

// The error of a file with every tokenizer key of dir_metadata() except `skip`,
// plus whatever `extra` writes (a key of the wrong type, say).
std::string error_with(const std::string& skip, const std::function<void(GgufWriter*)>& extra) {
  const GgufTokenizer& t = dir_metadata();
  GgufWriter w;
  w.add_string("general.architecture", "qwen2");
  auto put = [&](const char* key, const std::function<void()>& f) {
    if (skip != key) f();
  };
  put("tokenizer.ggml.model", [&] { w.add_string("tokenizer.ggml.model", t.model); });
  put("tokenizer.ggml.pre", [&] { w.add_string("tokenizer.ggml.pre", t.pre); });
  put("tokenizer.ggml.tokens", [&] { w.add_strings("tokenizer.ggml.tokens", t.tokens); });
  put("tokenizer.ggml.token_type", [&] { w.add_i32s("tokenizer.ggml.token_type", t.types); });
  put("tokenizer.ggml.merges", [&] { w.add_strings("tokenizer.ggml.merges", t.merges); });
  put("tokenizer.ggml.eos_token_id", [&] { w.add_u32("tokenizer.ggml.eos_token_id", 151645); });
  put("tokenizer.chat_template", [&] { w.add_string("tokenizer.chat_template", "x"); });
  extra(&w);
  add_embedding(&w, kVocab);
  auto p = parse(w);
  if (!p->file.ok()) return p->file.status().message();
  auto r = load(*p->file.value());
  return r.ok() ? "" : r.status().message();
}

#define EXPECT_ERROR(msg, ...)                                           \
  do {                                                                   \
    const std::string m_ = (msg);                                        \
    EXPECT_NE(m_.find(kName), std::string::npos) << m_;                  \
    for (const char* part : {__VA_ARGS__})                               \
      EXPECT_NE(m_.find(part), std::string::npos) << part << ": " << m_; \
  } while (0)

TEST(GgufTokenizerHostile, MissingKeys) {
  for (const char* key : {"tokenizer.ggml.model", "tokenizer.ggml.tokens",
                          "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}) {
    EXPECT_ERROR(error_with(key, [](GgufWriter*) {}), key, "missing");
  }
  // No eos key: <|im_end|> by content; no template: empty.
  EXPECT_EQ(error_with("tokenizer.ggml.eos_token_id", [](GgufWriter*) {}), "");
  EXPECT_EQ(error_with("tokenizer.chat_template", [](GgufWriter*) {}), "");
}

TEST(GgufTokenizerHostile, WrongTypes) {
  EXPECT_ERROR(error_with("tokenizer.ggml.model",
                          [](GgufWriter* w) { w->add_u32("tokenizer.ggml.model", 2); }),
               "tokenizer.ggml.model", "not a string");
  EXPECT_ERROR(error_with("tokenizer.ggml.tokens",
                          [](GgufWriter* w) {
                            w->add_i32s("tokenizer.ggml.tokens", {1, 2});
                          }),
               "tokenizer.ggml.tokens", "not an array of strings");
  EXPECT_ERROR(error_with("tokenizer.ggml.tokens",
                          [](GgufWriter* w) { w->add_string("tokenizer.ggml.tokens", "a"); }),
               "tokenizer.ggml.tokens", "not an array of strings");
  EXPECT_ERROR(
      error_with("tokenizer.ggml.token_type",
                 [](GgufWriter* w) { w->add_strings("tokenizer.ggml.token_type", {"1"}); }),
      "tokenizer.ggml.token_type", "not an array of integers");
  EXPECT_ERROR(error_with("tokenizer.ggml.merges",
                          [](GgufWriter* w) { w->add_i32s("tokenizer.ggml.merges", {}); }),
               "tokenizer.ggml.merges", "not an array of strings");
  EXPECT_ERROR(error_with("tokenizer.ggml.eos_token_id",
                          [](GgufWriter* w) { w->add_string("tokenizer.ggml.eos_token_id", "2"); }),
               "tokenizer.ggml.eos_token_id", "not an integer");
  EXPECT_ERROR(error_with("tokenizer.ggml.eos_token_id",
                          [](GgufWriter* w) { w->add_f32("tokenizer.ggml.eos_token_id", 2.f); }),
               "tokenizer.ggml.eos_token_id", "not an integer");
  EXPECT_ERROR(error_with("tokenizer.chat_template",
                          [](GgufWriter* w) { w->add_i32("tokenizer.chat_template", 1); }),
               "tokenizer.chat_template", "not a string");
  EXPECT_ERROR(error_with("", [](GgufWriter* w) { w->add_i32("tokenizer.ggml.add_bos_token", 1); }),
               "tokenizer.ggml.add_bos_token", "not a bool");
}

TEST(GgufTokenizerHostile, UnsupportedModelOrPreTokenizer) {
  GgufTokenizer t = dir_metadata();
  t.model = "llama";
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.model", "llama");
  t = dir_metadata();
  t.pre = "llama3";
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.pre", "llama3");
  // A qwen2 file from before the key existed loads; another architecture must say.
  EXPECT_EQ(error_with("tokenizer.ggml.pre", [](GgufWriter*) {}), "");
  t = dir_metadata();
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("tokenizer.ggml.model", "gpt2");
  auto p = parse(w);
  ASSERT_TRUE(p->file.ok());
  auto r = read_gguf_tokenizer(*p->file.value());
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR(r.status().message(), "tokenizer.ggml.pre", "missing");
}

TEST(GgufTokenizerHostile, Counts) {
  GgufTokenizer t = dir_metadata();
  t.types.pop_back();
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.token_type", "151935 entries for 151936 tokens");
  t = dir_metadata();
  EXPECT_ERROR(error_of(t, 1000), "tokenizer.ggml.tokens", "151936 tokens for 1000");
  t.tokens.clear();
  t.types.clear();
  t.bos_id = t.eos_id = t.pad_id = std::nullopt;
  EXPECT_ERROR(error_of(t, 0), "tokenizer.ggml.tokens", "empty");
}

TEST(GgufTokenizerHostile, BadEntries) {
  GgufTokenizer t = dir_metadata();
  t.merges[7] = "Ġ zzzz-not-a-token";
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.merges", "zzzz-not-a-token", "missing");
  t = dir_metadata();
  t.merges[3] = "nospace";
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.merges[3]", "not 'A B'");
  t = dir_metadata();
  t.types[100] = 6;
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.token_type[100]", "6");
  t = dir_metadata();
  t.types[100] = -7;
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.token_type[100]", "-7");
  t = dir_metadata();
  t.tokens[5000] = "中文";  // not a byte-level string
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.tokens", "5000", "byte-level");
  t = dir_metadata();
  t.types[64] = 5;  // 'a' (byte 0x61) becomes a hole
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.tokens", "byte token");
  t = dir_metadata();
  t.tokens[151644] = "";
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.tokens[151644]", "empty");
  t = dir_metadata();
  t.eos_id = 151700;  // a hole
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.eos_token_id", "151700");
  t.eos_id = kVocab + 5;
  EXPECT_ERROR(error_of(t), "tokenizer.ggml.eos_token_id", "outside the vocabulary");
}

}  // namespace
}  // namespace qs
