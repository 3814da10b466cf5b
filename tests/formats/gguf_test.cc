// GGUF: writer -> reader round trip, and hostile files give errors, never crashes.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace qs {
namespace {

std::vector<uint8_t> sample() {
  GgufWriter w;
  w.add_string("general.architecture", "qwen2");
  w.add_u32("qwen2.block_count", 2);
  w.add_f32("qwen2.rope.freq_base", 1e6f);
  w.add_bool("flag", true);
  w.add_strings("tokenizer.ggml.tokens", {"a", "bc", ""});
  w.add_i32s("tokenizer.ggml.token_type", {1, 1, 3});
  std::vector<uint8_t> q8(34 * 2 * 3, 7);  // Q8_0 [3][64]
  EXPECT_TRUE(w.add_tensor("blk.0.attn_q.weight", {64, 3}, GgmlType::kQ8_0, q8).ok());
  std::vector<uint8_t> f(4 * 5, 1);
  EXPECT_TRUE(w.add_tensor("norm", {5}, GgmlType::kF32, f).ok());
  return w.serialize();
}

TEST(Gguf, RoundTrip) {
  auto bytes = sample();
  auto g = GgufFile::FromMemory(bytes.data(), bytes.size(), "mem");
  ASSERT_TRUE(g.ok()) << g.status().message();
  const GgufFile& f = *g.value();
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture").value(), "qwen2");
  EXPECT_EQ(f.get_int("qwen2.block_count").value(), 2);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("qwen2.rope.freq_base").value()), 1e6f);
  EXPECT_EQ(f.get_int("flag").value(), 1);
  EXPECT_FALSE(f.get_int("general.architecture").has_value());
  const GgufValue* toks = f.get("tokenizer.ggml.tokens");
  ASSERT_NE(toks, nullptr);
  EXPECT_EQ(toks->strs, (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(f.get("tokenizer.ggml.token_type")->nums, (std::vector<double>{1, 1, 3}));
  const GgufTensor* t = f.find("blk.0.attn_q.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, GgmlType::kQ8_0);
  EXPECT_EQ(t->ne, (std::vector<uint64_t>{64, 3}));
  EXPECT_EQ(t->nbytes, 34u * 6);
  EXPECT_EQ(t->data[0], 7);
  EXPECT_EQ(static_cast<size_t>(t->data - bytes.data()) % 32, 0u);
  EXPECT_EQ(f.find("norm")->nbytes, 20u);
}

TEST(Gguf, WriterRejectsWrongSizes) {
  GgufWriter w;
  EXPECT_FALSE(w.add_tensor("x", {60, 3}, GgmlType::kQ8_0, std::vector<uint8_t>(34 * 6)).ok());
  EXPECT_FALSE(w.add_tensor("x", {64, 3}, GgmlType::kQ8_0, std::vector<uint8_t>(34 * 5)).ok());
}

// Every truncation and many random byte flips: an error or a consistent file.
TEST(Gguf, HostileFilesNeverCrash) {
  auto good = sample();
  // Where the last tensor's bytes end (only its alignment padding follows).
  auto whole = GgufFile::FromMemory(good.data(), good.size(), "whole");
  ASSERT_TRUE(whole.ok());
  const GgufTensor* last = whole.value()->find("norm");
  const size_t end = static_cast<size_t>(last->data - good.data()) + last->nbytes;
  for (size_t n = 0; n < good.size(); ++n) {
    auto g = GgufFile::FromMemory(good.data(), n, "cut");
    if (n < end) {
      EXPECT_FALSE(g.ok()) << "accepted a file cut at " << n;
    } else {
      EXPECT_TRUE(g.ok()) << "rejected a file cut in the trailing padding at " << n;
    }
  }
  std::mt19937 rng(1);
  for (int it = 0; it < 20000; ++it) {
    auto b = good;
    for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    auto g = GgufFile::FromMemory(b.data(), b.size(), "flip");
    if (!g.ok()) continue;
    for (const GgufTensor& t : g.value()->tensors()) {
      ASSERT_GE(t.data, b.data());
      ASSERT_LE(t.data + t.nbytes, b.data() + b.size());
    }
  }
}

TEST(Gguf, SpecificErrors) {
  auto b = sample();
  b[0] = 'X';
  auto g = GgufFile::FromMemory(b.data(), b.size(), "m");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("bad magic"), std::string::npos);
  b = sample();
  b[4] = 9;  // version
  g = GgufFile::FromMemory(b.data(), b.size(), "m");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("version"), std::string::npos);
}

// A block type we do not read (IQ2_XXS, 16, as in llama.cpp's iq2 files) is
// one line naming the tensor and the type; every type we read parses.
TEST(Gguf, UnknownBlockTypeNamesTheTensor) {
  auto b = sample();
  const std::string name = "blk.0.attn_q.weight";
  auto at = std::search(b.begin(), b.end(), name.begin(), name.end());
  ASSERT_NE(at, b.end());
  const size_t type_at = static_cast<size_t>(at - b.begin()) + name.size() + 4 + 2 * 8;
  uint32_t type = 0;
  std::memcpy(&type, &b[type_at], 4);
  ASSERT_EQ(type, 8u);  // Q8_0, where the layout puts it
  type = 16;
  std::memcpy(&b[type_at], &type, 4);
  auto g = GgufFile::FromMemory(b.data(), b.size(), "m.gguf");
  ASSERT_FALSE(g.ok());
  const std::string msg = g.status().message();
  EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported ggml type 16 (IQ2_XXS)"), std::string::npos) << msg;
  for (GgmlType t : {GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kIQ4_NL, GgmlType::kQ2_K,
                     GgmlType::kQ3_K, GgmlType::kQ5_K}) {
    size_t be = 0, bb = 0;
    ASSERT_TRUE(ggml_type_block(t, &be, &bb)) << ggml_type_name(t);
    GgufWriter w;
    EXPECT_TRUE(w.add_tensor("w", {256, 2}, t, std::vector<uint8_t>(256 / be * bb * 2, 0)).ok())
        << ggml_type_name(t);
    auto bytes = w.serialize();
    auto f = GgufFile::FromMemory(bytes.data(), bytes.size(), "t.gguf");
    ASSERT_TRUE(f.ok()) << ggml_type_name(t) << ": " << f.status().message();
    EXPECT_EQ(f.value()->find("w")->type, t);
  }
}

}  // namespace
}  // namespace qs
