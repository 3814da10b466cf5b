// Reader round trips (via our writer) and a table of hostile files, each of
// which must give an error naming the file and the specific problem.
#include "formats/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "formats/safetensors_writer.h"
#include "formats/tensor_check.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ =
        (fs::temp_directory_path() / ("qs_st_" + tag + "_" + std::to_string(::getpid()))).string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A raw file: u64 LE length, the header text as is, then `data_bytes` bytes.
std::string raw_file(const std::string& header, size_t data_bytes, uint64_t len_override = ~0ull) {
  uint64_t n = len_override == ~0ull ? header.size() : len_override;
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  s += header;
  s.append(data_bytes, '\x5a');
  return s;
}

TEST(Safetensors, RoundTripSeveralDtypes) {
  TempDir dir("rt");
  std::vector<float> f32(6);
  std::iota(f32.begin(), f32.end(), 0.5f);
  std::vector<uint16_t> bf16 = {f32_to_bf16(1.5f), f32_to_bf16(-2.0f), f32_to_bf16(3.25f)};
  std::vector<uint16_t> f16 = {f32_to_f16(0.5f), f32_to_f16(65504.f)};
  std::vector<int64_t> i64 = {-1, 1ll << 40};
  std::vector<uint8_t> u8 = {1, 2, 3, 4, 5};  // odd size: later tensors are unaligned
  std::vector<int32_t> i32 = {7, -7, 9};
  const std::string path = dir.file("model.safetensors");
  ASSERT_TRUE(write_safetensors(path,
                                {{"w.f32", DType::F32, {2, 3}, f32.data(), 24},
                                 {"w.bf16", DType::BF16, {3}, bf16.data(), 6},
                                 {"w.f16", DType::F16, {1, 2}, f16.data(), 4},
                                 {"a.u8", DType::U8, {5}, u8.data(), 5},
                                 {"b.i32", DType::I32, {3}, i32.data(), 12},
                                 {"c.i64", DType::I64, {2}, i64.data(), 16},
                                 {"scalar", DType::F32, {}, f32.data(), 4},
                                 {"zero", DType::BF16, {0, 896}, nullptr, 0}},
                                {{"format", "pt"}, {"note", "héllo"}})
                  .ok());
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const SafetensorsFile& f = *r.value();
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "héllo");
  ASSERT_EQ(f.tensors().size(), 8u);
  EXPECT_EQ(f.tensors()[0].name, "a.u8");  // sorted by name

  const TensorView* t = f.find("w.f32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t->numel(), 6);
  ASSERT_EQ(t->nbytes, 24u);
  EXPECT_EQ(std::memcmp(t->data, f32.data(), 24), 0);
  EXPECT_EQ(*t->file, path);

  t = f.find("w.bf16");
  ASSERT_NE(t, nullptr);
  uint16_t h;
  std::memcpy(&h, t->data + 2, 2);  // data may be unaligned
  EXPECT_EQ(bf16_to_f32(h), -2.0f);
  t = f.find("w.f16");
  ASSERT_NE(t, nullptr);
  std::memcpy(&h, t->data + 2, 2);
  EXPECT_EQ(f16_to_f32(h), 65504.f);
  t = f.find("c.i64");
  ASSERT_NE(t, nullptr);
  int64_t v;
  std::memcpy(&v, t->data + 8, 8);
  EXPECT_EQ(v, 1ll << 40);
  t = f.find("b.i32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::memcmp(t->data, i32.data(), 12), 0);
  t = f.find("a.u8");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::memcmp(t->data, u8.data(), 5), 0);
  t = f.find("scalar");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->shape.empty());
  EXPECT_EQ(t->numel(), 1);
  t = f.find("zero");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->numel(), 0);
  EXPECT_EQ(t->nbytes, 0u);
  EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(Safetensors, EmptyHeaderIsValid) {
  TempDir dir("empty");
  const std::string path = dir.file("e.safetensors");
  write_bytes(path, raw_file("{}      ", 0));
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r.value()->tensors().empty());
}

TEST(Safetensors, HostileFiles) {
  TempDir dir("bad");
  const std::string path = dir.file("model.safetensors");
  const std::string ok_entry = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  struct Case {
    const char* what;
    std::string bytes;
    std::vector<std::string> want;  // substrings of the message
  } cases[] = {
      {"empty file", "", {"0 bytes, too short"}},
      {"truncated length", std::string(5, '\0'), {"5 bytes, too short"}},
      {"absurd header length", raw_file("{}", 0, 1ull << 40), {"exceeds the 100000000-byte limit"}},
      {"huge header length", raw_file("{}", 0, ~0ull - 3), {"exceeds the 100000000-byte limit"}},
      {"header past end", raw_file("{}", 0, 64), {"header length 64 exceeds the file size"}},
      {"truncated data",
       raw_file("{" + ok_entry + "}", 4),
       {"tensor 'a'", "data_offsets [0, 8] out of range (data section is 4 bytes)"}},
      {"not json", raw_file("{not json", 0), {"not valid JSON"}},
      {"not an object", raw_file("[1, 2]", 0), {"does not start with '{'"}},
      {"zero-length header", raw_file("", 0), {"does not start with '{'"}},
      {"invalid utf8", raw_file("{\"\xff\xfe\": 1}", 0), {"not valid JSON"}},
      {"entry not object", raw_file(R"({"a": 5})", 0), {"tensor 'a'", "not a JSON object"}},
      {"entry is array", raw_file(R"({"a": [1]})", 0), {"tensor 'a'", "not a JSON object"}},
      {"missing dtype",
       raw_file(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "missing 'dtype'"}},
      {"dtype not string",
       raw_file(R"({"a": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "'dtype' is not a string"}},
      {"unknown dtype",
       raw_file(R"({"a": {"dtype": "Q4_K", "shape": [1], "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "unknown dtype 'Q4_K'"}},
      {"missing shape",
       raw_file(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "missing 'shape'"}},
      {"shape not array",
       raw_file(R"({"a": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}})", 16),
       {"tensor 'a'", "'shape' is not an array"}},
      {"negative dim",
       raw_file(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "shape dimension -1 is not a non-negative integer"}},
      {"float dim",
       raw_file(R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "shape dimension 1.5 is not a non-negative integer"}},
      {"string dim",
       raw_file(R"({"a": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", 8),
       {"tensor 'a'", "is not a non-negative integer"}},
      {"bool dim",
       raw_file(R"({"a": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "is not a non-negative integer"}},
      {"dim above int64",
       raw_file(
           R"({"a": {"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 4]}})", 4),
       {"tensor 'a'", "is too large"}},
      {"shape product overflow",
       raw_file(
           R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})",
           0),
       {"tensor 'a'", "element count overflows"}},
      {"byte size overflow",
       raw_file(
           R"({"a": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0),
       {"tensor 'a'", "byte size overflows"}},
      {"missing offsets",
       raw_file(R"({"a": {"dtype": "F32", "shape": [1]}})", 4),
       {"tensor 'a'", "missing 'data_offsets'"}},
      {"three offsets",
       raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", 8),
       {"tensor 'a'", "is not two non-negative integers"}},
      {"negative offset",
       raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4),
       {"tensor 'a'", "is not two non-negative integers"}},
      {"end before begin",
       raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8),
       {"tensor 'a'", "data_offsets [8, 4] end < begin"}},
      {"size mismatch",
       raw_file(R"({"a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 8]}})", 8),
       {"tensor 'a'", "span 8 bytes but BF16 [3] needs 6"}},
      {"offsets out of range",
       raw_file(
           R"({"model.norm.weight": {"dtype": "U8", "shape": [10], "data_offsets": [10, 20]}})",
           16),
       {"tensor 'model.norm.weight'",
        "data_offsets [10, 20] out of range (data section is 16 bytes)"}},
      {"overlap",
       raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                12),
       {"tensor 'b'", "[4, 12] overlap tensor 'a' [0, 8]"}},
      {"same range twice",
       raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                8),
       {"overlap tensor"}},
      {"hole",
       raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                12),
       {"tensor 'b'", "leave a hole: bytes [4, 8)"}},
      {"hole at start",
       raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8),
       {"tensor 'a'", "leave a hole: bytes [0, 4)"}},
      {"trailing bytes",
       raw_file("{" + ok_entry + "}", 12),
       {"data section is 12 bytes but the tensors cover only 8"}},
      {"duplicate name",
       raw_file("{" + ok_entry + ", " + ok_entry + "}", 8),
       {"tensor 'a'", "duplicate name"}},
      {"metadata not object",
       raw_file(R"({"__metadata__": [1]})", 0),
       {"'__metadata__' is not a JSON object"}},
      {"metadata value not string",
       raw_file(R"({"__metadata__": {"k": 1}})", 0),
       {"'__metadata__' value for 'k' is not a string"}},
      {"deep nesting",
       raw_file("{\"a\": " + std::string(10000, '[') + std::string(10000, ']') + "}", 0),
       {"tensor 'a'", "not a JSON object"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    write_bytes(path, c.bytes);
    auto r = SafetensorsFile::Open(path);
    ASSERT_FALSE(r.ok());
    const std::string& msg = r.status().message();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;  // starts with the file name
    for (const std::string& w : c.want) EXPECT_NE(msg.find(w), std::string::npos) << msg;
  }
}

TEST(Safetensors, MissingFile) {
  auto r = SafetensorsFile::Open("/nonexistent/model.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/model.safetensors"), std::string::npos);
}

// Every truncation of a valid file must be rejected cleanly (never a crash).
TEST(Safetensors, EveryTruncationIsRejected) {
  TempDir dir("trunc");
  const std::string good = dir.file("good.safetensors");
  const float a[4] = {1, 2, 3, 4};
  ASSERT_TRUE(
      write_safetensors(good, {{"x", DType::F32, {4}, a, 16}, {"y", DType::F32, {2}, a, 8}}).ok());
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string path = dir.file("t.safetensors");
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(path, bytes.substr(0, n));
    auto r = SafetensorsFile::Open(path);
    EXPECT_FALSE(r.ok()) << "accepted a file truncated to " << n << " bytes";
  }
  write_bytes(path, bytes);
  EXPECT_TRUE(SafetensorsFile::Open(path).ok());
}

TEST(TensorCheck, Messages) {
  TempDir dir("check");
  const std::string path = dir.file("model.safetensors");
  std::vector<uint16_t> w(896 * 64);
  ASSERT_TRUE(write_safetensors(path, {{"model.layers.0.self_attn.q_proj.weight",
                                        DType::BF16,
                                        {896, 64},
                                        w.data(),
                                        w.size() * 2}})
                  .ok());
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const TensorView* t = r.value()->find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(check_tensor(t, t->name, {896, 64}, {DType::BF16, DType::F16}).ok());
  EXPECT_TRUE(check_tensor(t, t->name, {896, 64}, {}).ok());

  Status st = check_tensor(t, t->name, {896, 896}, {DType::BF16});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), path +
                              ": tensor 'model.layers.0.self_attn.q_proj.weight': shape [896, 64] "
                              "does not match config (expected [896, 896])");
  st = check_tensor(t, t->name, {896, 64}, {DType::F32, DType::F16});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("dtype BF16 not supported here (expected F32, F16)"),
            std::string::npos)
      << st.message();
  st = check_tensor(nullptr, "lm_head.weight", {1}, {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "missing tensor 'lm_head.weight'");
}

}  // namespace
}  // namespace qs

namespace qs {
namespace {

TEST(Safetensors, FromMemory) {
  const std::string good =
      raw_file(R"({"a": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}})", 3);
  auto r = SafetensorsFile::FromMemory(reinterpret_cast<const uint8_t*>(good.data()), good.size(),
                                       "mem.safetensors");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const TensorView* t = r.value()->find("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->data, reinterpret_cast<const uint8_t*>(good.data()) + good.size() - 3);
  EXPECT_EQ(*t->file, "mem.safetensors");
  auto bad = SafetensorsFile::FromMemory(nullptr, 0, "mem.safetensors");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("mem.safetensors: file is 0 bytes"), std::string::npos);
}

}  // namespace
}  // namespace qs
