// The synthesizer's generator, specs and files, and the weight fingerprints
// recorded by tools/reference/make_golden.py (so C++ and numpy agree on weights).
#include "synth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"

namespace qs::synth {
namespace {

const std::string kConfigs = std::string(QS_SOURCE_DIR) + "/tools/synth/configs/";
const std::string kGolden = std::string(QS_SOURCE_DIR) + "/tests/fixtures/golden/";

TEST(Fnv1a64, KnownVectors) {
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
}

TEST(SynthValue, IsSplitmix64TopBitsMappedExactly) {
  // splitmix64 seeded with 0 yields 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4 first.
  EXPECT_EQ(synth_value(0, 0, 1.0f, 0.0f), static_cast<float>(0xe220a8) * 0x1p-23f - 1.0f);
  EXPECT_EQ(synth_value(0, 1, 1.0f, 0.0f), static_cast<float>(0x6e789e) * 0x1p-23f - 1.0f);
  // Scale then offset, each rounded to float32.
  const float a = synth_value(0, 0, 1.0f, 0.0f);
  const float scaled = a * 0.3f;
  EXPECT_EQ(synth_value(0, 0, 0.3f, 1.0f), scaled + 1.0f);
}

TEST(SynthValue, UniformInRangeWithMeanNearZero) {
  const uint64_t s = stream_of(1234, "x");
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float v = synth_value(s, i, 0.5f, 0.0f);
    ASSERT_GE(v, -0.5f);
    ASSERT_LT(v, 0.5f);
    sum += v;
    sq += double(v) * v;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.005);
  EXPECT_NEAR(sq / n, 0.25 / 3, 0.002);  // variance of U(-a, a) is a^2 / 3
}

TEST(Fill, SlicesAgreeWithWholeAndBf16IsRoundedF32) {
  const uint64_t s = stream_of(7, "model.norm.weight");
  std::vector<float> whole(1000), part(300);
  fill_f32(s, 0.1f, 1.0f, 0, 1000, whole.data());
  fill_f32(s, 0.1f, 1.0f, 500, 800, part.data());
  for (int i = 0; i < 300; ++i) ASSERT_EQ(part[i], whole[500 + i]);
  std::vector<uint16_t> b(1000);
  fill_bf16(s, 0.1f, 1.0f, 0, 1000, b.data());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(b[i], f32_to_bf16(whole[i]));
  // Different names give different streams.
  EXPECT_NE(synth_value(stream_of(7, "a"), 0, 1, 0), synth_value(stream_of(7, "b"), 0, 1, 0));
  EXPECT_NE(synth_value(stream_of(7, "a"), 0, 1, 0), synth_value(stream_of(8, "a"), 0, 1, 0));
}

TEST(TensorSpecs, TiedAndUntiedShapes) {
  auto tied = load_qwen2_config(kConfigs + "tiny.json");
  ASSERT_TRUE(tied.ok()) << tied.status().message();
  auto specs = tensor_specs(*tied);
  ASSERT_EQ(specs.size(), 1u + 2 * 12 + 1);
  EXPECT_EQ(specs[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(specs[0].shape, (std::vector<int64_t>{151936, 64}));
  EXPECT_EQ(specs[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(specs[2].shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(specs[4].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(specs[4].shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(specs[12].name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(specs[12].shape, (std::vector<int64_t>{64, 128}));
  EXPECT_FLOAT_EQ(specs[12].scale, static_cast<float>(2.0 * std::sqrt(3.0 / 128)));
  EXPECT_EQ(specs.back().name, "model.norm.weight");

  auto untied = load_qwen2_config(kConfigs + "tiny-untied.json");
  ASSERT_TRUE(untied.ok()) << untied.status().message();
  specs = tensor_specs(*untied);
  ASSERT_EQ(specs.size(), 1u + 3 * 12 + 2);
  EXPECT_EQ(specs.back().name, "lm_head.weight");
  EXPECT_EQ(specs.back().shape, (std::vector<int64_t>{151936, 64}));

  auto big = load_qwen2_config(kConfigs + "qwen2.5-0.5b.json");
  ASSERT_TRUE(big.ok()) << big.status().message();
  size_t params = 0;
  for (const auto& s : tensor_specs(*big)) params += s.numel();
  EXPECT_EQ(params, 494032768u);  // Qwen2.5-0.5B's parameter count (tied)
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("qs_synth_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(SynthesizeModel, WritesFilesWhoseTensorsMatchTheGenerator) {
  TempDir dir;
  const Status st = synthesize_model(kConfigs + "tiny.json", 99, dir.str(), DType::BF16, "", 2);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(std::filesystem::exists(dir.str() + "/config.json"));
  EXPECT_TRUE(std::filesystem::exists(dir.str() + "/generation_config.json"));
  auto cfg = load_qwen2_config(dir.str() + "/config.json");
  ASSERT_TRUE(cfg.ok());
  auto file = SafetensorsFile::Open(dir.str() + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status().message();
  const auto specs = tensor_specs(*cfg);
  ASSERT_EQ((*file)->tensors().size(), specs.size());
  for (const auto& s : specs) {
    const TensorView* t = (*file)->find(s.name);
    ASSERT_NE(t, nullptr) << s.name;
    EXPECT_EQ(t->dtype, DType::BF16);
    EXPECT_EQ(t->shape, s.shape);
    const size_t n = std::min<size_t>(s.numel(), 5000);
    std::vector<uint16_t> want(n), got(n);
    fill_bf16(stream_of(99, s.name), s.scale, s.offset, 0, n, want.data());
    std::memcpy(got.data(), t->data, n * 2);
    EXPECT_EQ(got, want) << s.name;
  }
}

TEST(SynthesizeModel, F32AndErrors) {
  TempDir dir;
  ASSERT_TRUE(synthesize_model(kConfigs + "tiny.json", 5, dir.str(), DType::F32, "", 1).ok());
  auto file = SafetensorsFile::Open(dir.str() + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  const TensorView* t = (*file)->find("model.norm.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  float v;
  std::memcpy(&v, t->data + 4 * 10, 4);
  EXPECT_EQ(v, synth_value(stream_of(5, "model.norm.weight"), 10, 0.1f, 1.0f));

  TempDir d2;
  EXPECT_FALSE(synthesize_model(kConfigs + "tiny.json", 5, d2.str(), DType::I32, "", 1).ok());
  EXPECT_FALSE(synthesize_model(kConfigs + "missing.json", 5, d2.str(), DType::BF16, "", 1).ok());
  EXPECT_FALSE(
      synthesize_model(kConfigs + "tiny.json", 5, d2.str(), DType::BF16, "/nonexistent", 1).ok());
}

// make_golden.py records, per golden config, fingerprints of a few synthesized
// tensors: the first 16 BF16 bit patterns and the exact float64 sum of all values.
TEST(GoldenFingerprint, CxxSynthMatchesPythonTwin) {
  for (const char* name : {"tiny", "tiny-untied", "wide2"}) {
    SCOPED_TRACE(name);
    std::ifstream f(kGolden + name + ".json");
    ASSERT_TRUE(f) << "missing golden file " << name;
    const nlohmann::json g = nlohmann::json::parse(f);
    const uint64_t seed = g.at("seed").get<uint64_t>();
    auto cfg = load_qwen2_config(kConfigs + g.at("config").get<std::string>());
    ASSERT_TRUE(cfg.ok());
    const auto specs = tensor_specs(*cfg);
    ASSERT_FALSE(g.at("weights_fingerprint").empty());
    for (const auto& [tname, fp] : g.at("weights_fingerprint").items()) {
      auto it = std::find_if(specs.begin(), specs.end(),
                             [&](const TensorSpec& s) { return s.name == tname; });
      ASSERT_NE(it, specs.end()) << tname;
      std::vector<uint16_t> v(it->numel());
      fill_bf16(stream_of(seed, it->name), it->scale, it->offset, 0, v.size(), v.data());
      const auto first = fp.at("first_bits").get<std::vector<uint16_t>>();
      ASSERT_LE(first.size(), v.size());
      for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(v[i], first[i]) << tname << " " << i;
      // Values are multiples of 2^-k with small k, so a long double running sum is
      // exact enough: compare with a relative tolerance far below one value's size.
      long double sum = 0;
      for (uint16_t b : v) sum += bf16_to_f32(b);
      const double want = fp.at("sum").get<double>();
      EXPECT_NEAR(static_cast<double>(sum), want, 1e-9 * (1.0 + std::fabs(want))) << tname;
      EXPECT_EQ(fp.at("shape").get<std::vector<int64_t>>(), it->shape) << tname;
    }
  }
}

}  // namespace
}  // namespace qs::synth
