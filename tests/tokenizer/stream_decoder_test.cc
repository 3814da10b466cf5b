#include "tokenizer/stream_decoder.h"

#include <random>

#include "test_util.h"
#include "tokenizer/unicode.h"

namespace qs::tokenizer {
namespace {

// Streams ids one by one; checks no output is half a character and the total
// equals decode().
std::string stream_all(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  StreamDecoder d(tok);
  std::string all;
  for (int32_t id : ids) {
    std::string piece = d.push(id);
    EXPECT_TRUE(is_valid_utf8(piece)) << "emitted a partial character";
    all += piece;
  }
  all += d.flush();
  return all;
}

TEST(StreamDecoder, HoldsSplitCharacters) {
  QS_REQUIRE_TOKENIZER(tok);
  // Each of these is split across byte-level tokens by BPE.
  for (const std::string text :
       {"😀👨‍👩‍👧 emoji", "你好，世界 Ελληνικά", "🫠🪿𝄞 rare"}) {
    auto ids = tok->encode(text);
    bool split = false;
    for (int32_t id : ids) split |= !is_valid_utf8(tok->token_bytes(id));
    EXPECT_TRUE(split) << "test text does not exercise split characters: " << text;
    EXPECT_EQ(stream_all(*tok, ids), text);
  }
}

TEST(StreamDecoder, ByteTokensOneAtATime) {
  QS_REQUIRE_TOKENIZER(tok);
  // "é" as two single-byte tokens: nothing after the first, "é" after the second.
  std::vector<int32_t> ids;
  tok->bpe("\xC3", &ids);
  tok->bpe("\xA9", &ids);
  ASSERT_EQ(ids.size(), 2u);
  StreamDecoder d(*tok);
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_EQ(d.pending_bytes(), 1u);
  EXPECT_EQ(d.push(ids[1]), "é");
  EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, InvalidBytesMatchDecode) {
  QS_REQUIRE_TOKENIZER(tok);
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<int32_t> ids;
    int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k)
      ids.push_back(static_cast<int32_t>(rng() % 400));  // many byte tokens
    EXPECT_EQ(stream_all(*tok, ids), tok->decode(ids));
  }
  // A truncated character at the end becomes one U+FFFD on flush.
  std::vector<int32_t> ids;
  tok->bpe("\xE4\xBD", &ids);
  StreamDecoder d(*tok);
  std::string out;
  for (int32_t id : ids) out += d.push(id);
  EXPECT_EQ(out, "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");
}

TEST(StreamDecoder, SkipSpecial) {
  QS_REQUIRE_TOKENIZER(tok);
  auto ids = tok->encode("<|im_start|>assistant\nHi<|im_end|>", true);
  StreamDecoder keep(*tok), skip(*tok, /*skip_special=*/true);
  std::string a, b;
  for (int32_t id : ids) {
    a += keep.push(id);
    b += skip.push(id);
  }
  EXPECT_EQ(a, "<|im_start|>assistant\nHi<|im_end|>");
  EXPECT_EQ(b, "assistant\nHi");
  EXPECT_EQ(tok->decode(ids, true), b);
}

}  // namespace
}  // namespace qs::tokenizer
