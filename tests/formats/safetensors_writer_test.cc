// Writer tests that read the raw bytes back by hand (independent of our reader).
#include "formats/safetensors_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

namespace qs {
namespace {

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("qs_writer_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SafetensorsWriter, LayoutMatchesSpec) {
  const std::string path = tmp_path("layout.safetensors");
  const float a[3] = {1.f, 2.f, 3.f};
  const uint16_t b[2] = {0x3f80, 0x4000};
  ASSERT_TRUE(write_safetensors(path,
                                {{"zeta", DType::F32, {3}, a, sizeof a},
                                 {"alpha", DType::BF16, {1, 2}, b, sizeof b}},
                                {{"format", "pt"}})
                  .ok());
  std::string bytes = slurp(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + sizeof a + sizeof b);
  auto header = nlohmann::json::parse(bytes.substr(8, n));  // trailing spaces are fine
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  // Sorted by name: alpha first at offset 0.
  EXPECT_EQ(header["alpha"]["dtype"], "BF16");
  EXPECT_EQ(header["alpha"]["shape"], nlohmann::json({1, 2}));
  EXPECT_EQ(header["alpha"]["data_offsets"], nlohmann::json({0, 4}));
  EXPECT_EQ(header["zeta"]["data_offsets"], nlohmann::json({4, 16}));
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n, b, sizeof b), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n + 4, a, sizeof a), 0);
  std::remove(path.c_str());
}

TEST(SafetensorsWriter, RejectsBadInput) {
  const std::string path = tmp_path("bad.safetensors");
  const float a[4] = {};
  struct Case {
    std::vector<TensorToWrite> t;
    std::string want;
  } cases[] = {
      {{{"x", DType::F32, {3}, a, sizeof a}}, "nbytes 16 does not match F32 shape [3]"},
      {{{"x", DType::F32, {-4}, a, sizeof a}}, "negative dimension"},
      {{{"x", DType::F32, {4}, a, sizeof a}, {"x", DType::F32, {4}, a, sizeof a}},
       "duplicate name"},
      {{{"x", DType::F32, {4}, nullptr, sizeof a}}, "null data"},
      {{{"", DType::F32, {4}, a, sizeof a}}, "empty tensor name"},
      {{{"x", DType::F32, {int64_t{1} << 40, int64_t{1} << 40}, a, sizeof a}}, "overflows"},
  };
  for (const auto& c : cases) {
    Status st = write_safetensors(path, c.t);
    ASSERT_FALSE(st.ok()) << c.want;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

TEST(SafetensorsWriter, EmptyAndZeroSized) {
  const std::string path = tmp_path("empty.safetensors");
  ASSERT_TRUE(write_safetensors(path, {{"z", DType::I64, {0, 5}, nullptr, 0}}).ok());
  std::string bytes = slurp(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(bytes.size(), 8 + n);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["z"]["data_offsets"], nlohmann::json({0, 0}));
  EXPECT_FALSE(header.contains("__metadata__"));
  std::remove(path.c_str());
}

TEST(SafetensorsWriter, UnwritablePathIsAnError) {
  Status st = write_safetensors("/nonexistent-dir/x.safetensors", {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent-dir/x.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace qs
