// Property tests: decode(encode(s)) == NFC(s) over random Unicode; invalid bytes
// round-trip through decode_bytes; the heap BPE equals a naive reference; the
// NFC fast-path ranges agree with utf8proc.
#include <utf8proc.h>

#include <map>
#include <random>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace qs::tokenizer {
namespace {

std::string utf8(int32_t cp) {
  std::string s;
  append_utf8(&s, cp);
  return s;
}

std::string reference_nfc(const std::string& s) {
  utf8proc_uint8_t* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str()));
  std::string r(reinterpret_cast<char*>(out));
  std::free(out);
  return r;
}

// Random text from a mix of pools: ASCII, whitespace runs, combining marks,
// CJK, Hangul jamo, emoji ZWJ sequences, other scripts, NFC singletons, and any
// valid code point.
std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> kChunks = {"Hello",
                                                   " world",
                                                   "'s",
                                                   "'LL",
                                                   "123",
                                                   "\t",
                                                   "\n",
                                                   "\r\n",
                                                   "   ",
                                                   "\u3000",
                                                   "\u00a0",
                                                   "e\u0301",
                                                   "a\u0308\u0301",
                                                   "\u0301",
                                                   "\u1100\u1161\u11a8",
                                                   "你好",
                                                   "世界",
                                                   "。",
                                                   "👨‍👩‍👧‍👦",
                                                   "🏳️‍🌈",
                                                   "😀",
                                                   "\U0001F469\U0001F3FD\u200D\U0001F4BB",
                                                   "Ελληνικά",
                                                   "русский",
                                                   "العربية",
                                                   "हिन्दी",
                                                   "ไทย",
                                                   "\u212b",
                                                   "\u2000",
                                                   "\uf900",
                                                   "ﬁ",
                                                   "①",
                                                   "²",
                                                   "٣",
                                                   "ſ",
                                                   "<|im_start|>",
                                                   "```py\nx = 1\n```",
                                                   "  \n\n  ",
                                                   "\u0085",
                                                   "\u2028"};
  std::string s;
  int n = static_cast<int>(rng() % 24);
  for (int i = 0; i < n; ++i) {
    uint32_t kind = rng() % 4;
    if (kind == 0) {
      s += kChunks[rng() % kChunks.size()];
    } else if (kind == 1) {
      s.push_back(static_cast<char>(0x20 + rng() % 95));
    } else if (kind == 2) {
      int32_t cp;
      do {
        cp = static_cast<int32_t>(rng() % 0x110000);
      } while (cp >= 0xD800 && cp < 0xE000);
      s += utf8(cp);
    } else {
      s += utf8(static_cast<int32_t>(0x300 + rng() % 0x70));  // combining marks
    }
  }
  return s;
}

TEST(RoundTrip, DecodeEncodeIsNfc) {
  QS_REQUIRE_TOKENIZER(tok);
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = random_text(rng);
    ASSERT_TRUE(is_valid_utf8(s));
    auto ids = tok->encode(s);
    ASSERT_EQ(tok->decode(ids), reference_nfc(s)) << "input: " << s;
  }
}

TEST(RoundTrip, InvalidBytesComeBack) {
  QS_REQUIRE_TOKENIZER(tok);
  std::mt19937 rng(99);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(rng() % 256));
    if (rng() % 2) s += random_text(rng);
    std::string expected;
    if (!nfc_normalize(s, &expected)) expected = s;
    auto ids = tok->encode(s, rng() % 2 == 0);
    ASSERT_EQ(tok->decode_bytes(ids), expected);
    EXPECT_TRUE(is_valid_utf8(tok->decode(ids)));
  }
}

TEST(RoundTrip, LongWhitespaceRunsAndPiecesTile) {
  QS_REQUIRE_TOKENIZER(tok);
  std::string s = std::string(5000, ' ') + "x" + std::string(3000, '\n') + std::string(100, '\t');
  EXPECT_EQ(tok->decode(tok->encode(s)), s);
  std::string joined;
  for (auto p : pretokenize(s)) joined += p;
  EXPECT_EQ(joined, s);
}

// Naive BPE straight from merges.txt: apply the lowest-rank pair (leftmost on
// ties) until none applies.
TEST(RoundTrip, HeapBpeMatchesNaive) {
  QS_REQUIRE_TOKENIZER(tok);
  std::string merges_txt = testing::read_file(testing::data_dir() + "/merges.txt");
  ASSERT_FALSE(merges_txt.empty());
  std::map<std::pair<std::string, std::string>, int> rank;
  std::istringstream in(merges_txt);
  std::string line;
  std::getline(in, line);  // #version
  for (int r = 0; std::getline(in, line); ++r) {
    size_t sp = line.find(' ');
    rank.emplace(std::make_pair(line.substr(0, sp), line.substr(sp + 1)), r);
  }
  std::mt19937 rng(3);
  const std::vector<std::string> alphabet = {"的", "是", "我", "们", "中", "国", "人", "a",
                                             "b",  "e",  "r",  "s",  "t",  "x",  "ç",  "ß"};
  for (int iter = 0; iter < 200; ++iter) {
    std::string piece;
    int n = 1 + static_cast<int>(rng() % 80);
    for (int i = 0; i < n; ++i) piece += alphabet[rng() % alphabet.size()];
    std::vector<std::string> syms;
    for (unsigned char c : piece) syms.push_back(utf8(byte_to_unicode(c)));
    while (syms.size() > 1) {
      int best = -1, best_rank = 1 << 30;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        auto it = rank.find({syms[i], syms[i + 1]});
        if (it != rank.end() && it->second < best_rank) {
          best_rank = it->second;
          best = static_cast<int>(i);
        }
      }
      if (best < 0) break;
      syms[best] += syms[best + 1];
      syms.erase(syms.begin() + best + 1);
    }
    std::vector<int32_t> want;
    for (auto& s : syms) want.push_back(*tok->token_id(s));
    std::vector<int32_t> got;
    tok->bpe(piece, &got);
    ASSERT_EQ(got, want) << piece;
  }
}

TEST(Unicode, NfcInertRangesAgreeWithUtf8proc) {
  int checked = 0;
  for (int32_t cp = 1; cp < 0x110000; ++cp) {  // (NUL: reference_nfc uses C strings)
    if (!nfc_inert(cp) || (cp >= 0xD800 && cp < 0xE000)) continue;
    const utf8proc_property_t* p = utf8proc_get_property(cp);
    std::string s = utf8(cp);
    ASSERT_EQ(reference_nfc(s), s) << std::hex << cp;
    ASSERT_EQ(p->combining_class, 0) << std::hex << cp;
    ASSERT_NE(p->category, UTF8PROC_CATEGORY_MN) << std::hex << cp;
    ASSERT_NE(p->category, UTF8PROC_CATEGORY_MC) << std::hex << cp;
    ASSERT_FALSE((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2));
    ++checked;
  }
  EXPECT_GT(checked, 35000);
}

TEST(Unicode, ClassesAndDecoding) {
  EXPECT_EQ(char_class('a'), CharClass::Letter);
  EXPECT_EQ(char_class(0x4E2D), CharClass::Letter);  // 中 Lo
  EXPECT_EQ(char_class(0x0663), CharClass::Number);  // Arabic-Indic 3, Nd
  EXPECT_EQ(char_class(0x2460), CharClass::Number);  // ① No
  EXPECT_EQ(char_class(0x2167), CharClass::Number);  // Ⅷ Nl
  EXPECT_EQ(char_class(0x3000), CharClass::Space);
  EXPECT_EQ(char_class(0x0085), CharClass::Space);
  EXPECT_EQ(char_class(0x2029), CharClass::Space);
  EXPECT_EQ(char_class(0x200B), CharClass::Other);  // ZWSP is not White_Space
  EXPECT_EQ(char_class(0x0301), CharClass::Other);  // Mn
  EXPECT_EQ(char_class(kInvalidCodepoint), CharClass::Other);
  size_t len;
  EXPECT_EQ(decode_utf8("\xED\xA0\x80", 0, &len), kInvalidCodepoint);  // surrogate
  EXPECT_EQ(decode_utf8("\xC0\xAF", 0, &len), kInvalidCodepoint);      // overlong
  EXPECT_EQ(decode_utf8("\xF4\x90\x80\x80", 0, &len), kInvalidCodepoint);
  EXPECT_EQ(decode_utf8("\xF0\x9F\x98\x80", 0, &len), 0x1F600);
  EXPECT_EQ(len, 4u);
  // Python's errors="replace": one U+FFFD per maximal invalid subpart.
  EXPECT_EQ(repair_utf8("a\xF0\x9F\x98z\xC3"), "a\xEF\xBF\xBDz\xEF\xBF\xBD");
  EXPECT_EQ(repair_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Loader, TokenizerJsonGivesTheSameTokenizer) {
  QS_REQUIRE_TOKENIZER(tok);
  // Build a tokenizer.json-only directory from the shared files.
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("qs_tokjson_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  nlohmann::json vocab =
      nlohmann::json::parse(testing::read_file(testing::data_dir() + "/vocab.json"));
  nlohmann::json merges = nlohmann::json::array();
  std::istringstream in(testing::read_file(testing::data_dir() + "/merges.txt"));
  std::string line;
  std::getline(in, line);
  for (int k = 0; std::getline(in, line); ++k) {
    size_t sp = line.find(' ');
    if (k % 2)
      merges.push_back(line);  // both forms HF writes
    else
      merges.push_back({line.substr(0, sp), line.substr(sp + 1)});
  }
  nlohmann::json added = nlohmann::json::array();
  for (const AddedToken& a : tok->added_tokens())
    added.push_back({{"id", a.id}, {"content", a.content}, {"special", a.special}});
  nlohmann::json tj = {{"added_tokens", added},
                       {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  std::ofstream(dir / "tokenizer.json") << tj.dump();
  auto r = Tokenizer::Load(dir.string());
  fs::remove_all(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Tokenizer& t2 = **r;
  EXPECT_EQ(t2.vocab_size(), tok->vocab_size());
  for (const char* s : {"Hello world, 你好 😀 123", "<|im_start|>user\nhi<|im_end|>", "  \n\tx"}) {
    EXPECT_EQ(t2.encode(s, true), tok->encode(s, true)) << s;
  }
}

TEST(Loader, ErrorsAreValues) {
  auto r = Tokenizer::Load("/nonexistent/dir");
  EXPECT_FALSE(r.ok());
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("qs_badtok_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "vocab.json") << "{\"a\": 0, \"b\": ";
  std::ofstream(dir / "merges.txt") << "#version: 0.2\na b\n";
  auto bad = Tokenizer::Load(dir.string());
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("vocab.json"), std::string::npos) << bad.status().message();
  fs::remove_all(dir);
}

TEST(Loader, Metadata) {
  QS_REQUIRE_TOKENIZER(tok);
  EXPECT_EQ(tok->vocab_size(), 151665);
  EXPECT_EQ(tok->eos_id(), 151645);
  EXPECT_EQ(tok->stop_ids(), (std::vector<int32_t>{151645, 151643}));
  EXPECT_EQ(tok->token_id("<tool_call>"), 151657);
  EXPECT_TRUE(tok->is_special(151644));
  EXPECT_FALSE(tok->is_special(151657));
  EXPECT_TRUE(tok->is_added(151657));
  EXPECT_EQ(tok->token_piece(1879), "Ġworld");
  EXPECT_EQ(tok->token_bytes(1879), " world");
  EXPECT_NE(tok->chat_template().find("<tool_call>"), std::string::npos);
  EXPECT_EQ(tok->decode({9707, -5, 1879, 999999}), "Hello world");  // bad ids skipped
}

}  // namespace
}  // namespace qs::tokenizer
