// GPTQ / AWQ checkpoints end to end: a hub-format directory is assembled from
// the committed packed projections (tests/fixtures/gptq/*.safetensors, made by
// tools/reference/pack_gptq_awq.py from the tiny model, seed 1234) and the
// embeddings/norms of the same synthetic model in F16, then loaded by
// Qwen2Model and compared with the PyTorch reference's logits on the packer's
// dequantized weights (recorded in the fixture's .json).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "model/qwen2_model.h"
#include "synth.h"  // tools/synth

namespace qs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSrc = QS_SOURCE_DIR;

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

// The tiny BF16 model, once per process.
const std::string& tiny_dir() {
  static std::string dir = [] {
    std::string d =
        (fs::temp_directory_path() / ("qs-gptq-model-" + std::to_string(::getpid()))).string();
    Status s = synth::synthesize_model(kSrc + "/tools/synth/configs/tiny.json", 1234, d + "/bf16",
                                       DType::BF16, "");
    EXPECT_TRUE(s.ok()) << s.message();
    return d;
  }();
  return dir;
}

struct Owned {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Writes <tiny>/<name>: config with quantization_config `qc`, F16 embeddings and
// norms from the BF16 model, the fixture's packed projections.
std::string assemble(const std::string& name, const json& qc) {
  const std::string out = tiny_dir() + "/" + name;
  fs::create_directories(out);
  json cfg = read_json(kSrc + "/tools/synth/configs/tiny.json");
  cfg["torch_dtype"] = "float16";
  cfg["quantization_config"] = qc;
  std::ofstream(out + "/config.json") << cfg.dump(2);
  std::vector<Owned> ts;
  auto base = SafetensorsFile::Open(tiny_dir() + "/bf16/model.safetensors");
  EXPECT_TRUE(base.ok());
  for (const auto& t : base.value()->tensors()) {
    if (t.name.find("_proj.") != std::string::npos) continue;  // projections come packed
    Owned o{t.name, DType::F16, t.shape, std::vector<uint8_t>(t.nbytes)};
    for (size_t i = 0; i < t.nbytes / 2; ++i) {
      uint16_t b;
      std::memcpy(&b, t.data + 2 * i, 2);
      uint16_t h = f32_to_f16(bf16_to_f32(b));
      std::memcpy(o.bytes.data() + 2 * i, &h, 2);
    }
    ts.push_back(std::move(o));
  }
  auto packed = SafetensorsFile::Open(kSrc + "/tests/fixtures/gptq/" + name + ".safetensors");
  EXPECT_TRUE(packed.ok());
  for (const auto& t : packed.value()->tensors())
    ts.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)});
  std::vector<TensorToWrite> w;
  for (const auto& t : ts) w.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  Status s = write_safetensors(out + "/model.safetensors", w);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

// Logits of every row of `ids` [T][V].
std::vector<std::vector<float>> run_all_rows(Qwen2Model& m, const std::vector<int32_t>& ids) {
  auto kv = KVCache::Create(m.kv_shape((ids.size() + 15) / 16, 16, DType::F32));
  EXPECT_TRUE(kv.ok());
  Batch b;
  std::vector<int32_t> table;
  for (size_t i = 0; i < (ids.size() + 15) / 16; ++i) table.push_back(static_cast<int32_t>(i));
  b.add_sequence(ids.data(), static_cast<int32_t>(ids.size()), 0, table, false);
  for (size_t r = 0; r < ids.size(); ++r) b.logits_rows.push_back(static_cast<int32_t>(r));
  const size_t V = static_cast<size_t>(m.config().vocab_size);
  std::vector<float> flat(ids.size() * V);
  Status s = m.forward(b, kv.value(), flat.data());
  EXPECT_TRUE(s.ok()) << s.message();
  std::vector<std::vector<float>> out(ids.size());
  for (size_t r = 0; r < ids.size(); ++r)
    out[r].assign(flat.begin() + r * V, flat.begin() + (r + 1) * V);
  return out;
}

// max |ours - ref| over the fixture columns / max |ref logit| over the vocabulary.
double rel_error(const std::vector<std::vector<float>>& ours, const json& doc,
                 const std::string& key) {
  const auto cols = doc.at("columns").get<std::vector<int32_t>>();
  const double max_abs = doc.at(key + "_max_abs").get<double>();
  double worst = 0;
  for (size_t r = 0; r < ours.size(); ++r)
    for (size_t c = 0; c < cols.size(); ++c) {
      const double ref = std::stod(doc.at(key).at(r).at(c).get<std::string>());
      worst = std::max(worst, std::fabs(ours[r][cols[c]] - ref));
    }
  return worst / max_abs;
}

class GptqAwqModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GptqAwqModelTest, LogitsMatchReferenceOnDequantizedWeights) {
  const json doc = read_json(kSrc + "/tests/fixtures/gptq/" + GetParam() + ".json");
  const std::string dir = assemble(GetParam(), doc.at("quantization_config"));
  ModelOptions o;
  o.threads = 2;
  o.precision = MatmulPrecision::kExact;
  auto m = Qwen2Model::Load(dir, o);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const auto ids = doc.at("prompt").get<std::vector<int32_t>>();
  auto out = run_all_rows(*m.value(), ids);
  ASSERT_EQ(out.size(), doc.at("logits_exact").size());
  // The weights are dequantized exactly and then held as BF16 (the kernel format for
  // now): against the reference run on the same BF16-rounded weights, F32 accuracy.
  const double bf16w = rel_error(out, doc, "logits_bf16_weights");
  EXPECT_LE(bf16w, 1e-4);
  // Against the exact dequantized weights: the BF16 rounding of the weights only.
  const double exact = rel_error(out, doc, "logits_exact");
  EXPECT_LE(exact, 3e-2);
  std::printf("%s: rel error vs reference (bf16-rounded weights) %.2e, (exact dequant) %.2e\n",
              GetParam().c_str(), bf16w, exact);
  // Greedy choice of every row agrees with the reference on the same weights.
  const auto argmax = doc.at("logits_bf16_weights_argmax").get<std::vector<int32_t>>();
  for (size_t r = 0; r < out.size(); ++r)
    EXPECT_EQ(std::max_element(out[r].begin(), out[r].end()) - out[r].begin(), argmax[r])
        << "row " << r;
}

INSTANTIATE_TEST_SUITE_P(Packed, GptqAwqModelTest,
                         ::testing::Values("gptq-int4", "gptq-int8", "gptq-int4-actorder", "awq"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(GptqAwqModel, InconsistentQuantizationConfigIsAnError) {
  const json doc = read_json(kSrc + "/tests/fixtures/gptq/gptq-int4.json");
  json qc = doc.at("quantization_config");
  qc["group_size"] = 48;  // does not divide hidden_size 64
  const std::string dir = assemble("gptq-int4", qc);
  auto m = Qwen2Model::Load(dir, ModelOptions{});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("group_size 48 does not divide in_features 64"),
            std::string::npos)
      << m.status().message();
  qc["quant_method"] = "exl2";
  const std::string dir2 = assemble("gptq-int4", qc);
  auto m2 = Qwen2Model::Load(dir2, ModelOptions{});
  ASSERT_FALSE(m2.ok());
  EXPECT_NE(m2.status().message().find("quant_method"), std::string::npos) << m2.status().message();
}

}  // namespace
}  // namespace qs
