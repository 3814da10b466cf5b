// GGUF block types end to end.
//
// 1. Every dequantizer against an independent decoder: the committed fixture
//    tests/fixtures/gguf/block_types.gguf (tools/reference/gguf_blocks.py,
//    numpy) holds random blocks of each type next to the values it decodes;
//    ours must equal them bit for bit, and so must the repacking forms:
//    IQ4_NL as Q8_0 and the min-form codes of Q4_0 / Q4_1 / Q5_0 / Q5_1 (the
//    k-quants' codes to their f16-rounded scales).
// 2. Files shaped like llama.cpp's for Qwen2.5-0.5B, whose 896-wide matrices
//    cannot hold k-quants (896 % 256 != 0): llama.cpp falls back to Q5_0
//    (q4_k_m), Q5_1 (q5_k_m), IQ4_NL (q2_k, q3_k_m) and Q8_0, and keeps
//    Q4_K / Q5_K / Q6_K / Q3_K / Q2_K for ffn_down (k = 4864). Each mix loads,
//    every matrix holds exactly what its type maps to (kernels.h formats),
//    and the logits agree with the model of the dequantized weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/gguf.h"
#include "kernels/quant.h"
#include "model/kv_cache.h"
#include "model/qwen2_model.h"

namespace qs {
namespace {

namespace fs = std::filesystem;
namespace qt = kernels::quant;

const std::string kSrc = QS_SOURCE_DIR;

// Row of k values of `type` (blocks copied out: fixture rows need not be aligned).
template <typename Block>
std::vector<float> decode_as(void (*fn)(const Block*, size_t, float*), const uint8_t* row, size_t k,
                             size_t block_elems) {
  std::vector<Block> blocks(k / block_elems);
  std::memcpy(blocks.data(), row, blocks.size() * sizeof(Block));
  std::vector<float> y(k);
  fn(blocks.data(), k, y.data());
  return y;
}

std::vector<float> dequantize(GgmlType t, const uint8_t* row, size_t k) {
  switch (t) {
    case GgmlType::kQ4_0:
      return decode_as<qt::BlockQ4_0>(qt::dequantize_row_q4_0, row, k, 32);
    case GgmlType::kQ4_1:
      return decode_as<qt::BlockQ4_1>(qt::dequantize_row_q4_1, row, k, 32);
    case GgmlType::kQ5_0:
      return decode_as<qt::BlockQ5_0>(qt::dequantize_row_q5_0, row, k, 32);
    case GgmlType::kQ5_1:
      return decode_as<qt::BlockQ5_1>(qt::dequantize_row_q5_1, row, k, 32);
    case GgmlType::kQ8_0:
      return decode_as<qt::BlockQ8_0>(qt::dequantize_row_q8_0, row, k, 32);
    case GgmlType::kIQ4_NL:
      return decode_as<qt::BlockIQ4_NL>(qt::dequantize_row_iq4_nl, row, k, 32);
    case GgmlType::kQ2_K:
      return decode_as<qt::BlockQ2_K>(qt::dequantize_row_q2_k, row, k, 256);
    case GgmlType::kQ3_K:
      return decode_as<qt::BlockQ3_K>(qt::dequantize_row_q3_k, row, k, 256);
    case GgmlType::kQ4_K:
      return decode_as<qt::BlockQ4_K>(qt::dequantize_row_q4_k, row, k, 256);
    case GgmlType::kQ5_K:
      return decode_as<qt::BlockQ5_K>(qt::dequantize_row_q5_k, row, k, 256);
    case GgmlType::kQ6_K:
      return decode_as<qt::BlockQ6_K>(qt::dequantize_row_q6_k, row, k, 256);
    default:
      ADD_FAILURE() << "no dequantizer for " << ggml_type_name(t);
      return {};
  }
}

// The kQ4 / kQ5 codes of a min-form type's row (false for other types).
template <typename Block>
void codes_as(void (*fn)(const Block*, size_t, uint8_t*, uint16_t*, uint16_t*), const uint8_t* row,
              size_t k, size_t block_elems, uint8_t* q, uint16_t* s, uint16_t* m) {
  std::vector<Block> blocks(k / block_elems);
  std::memcpy(blocks.data(), row, blocks.size() * sizeof(Block));
  fn(blocks.data(), k, q, s, m);
}
bool min_form_codes(GgmlType t, const uint8_t* row, size_t k, uint8_t* q, uint16_t* s,
                    uint16_t* m) {
  switch (t) {
    case GgmlType::kQ4_0:
      return codes_as<qt::BlockQ4_0>(qt::q4_0_codes, row, k, 32, q, s, m), true;
    case GgmlType::kQ4_1:
      return codes_as<qt::BlockQ4_1>(qt::q4_1_codes, row, k, 32, q, s, m), true;
    case GgmlType::kQ4_K:
      return codes_as<qt::BlockQ4_K>(qt::q4_k_codes, row, k, 256, q, s, m), true;
    case GgmlType::kQ5_0:
      return codes_as<qt::BlockQ5_0>(qt::q5_0_codes, row, k, 32, q, s, m), true;
    case GgmlType::kQ5_1:
      return codes_as<qt::BlockQ5_1>(qt::q5_1_codes, row, k, 32, q, s, m), true;
    case GgmlType::kQ5_K:
      return codes_as<qt::BlockQ5_K>(qt::q5_k_codes, row, k, 256, q, s, m), true;
    default:
      return false;
  }
}

size_t row_bytes(GgmlType t, size_t k) {
  size_t be = 0, bb = 0;
  EXPECT_TRUE(ggml_type_block(t, &be, &bb));
  return k / be * bb;
}

bool same_bits(const std::vector<float>& a, const float* b) {
  return std::memcmp(a.data(), b, a.size() * sizeof(float)) == 0;
}

TEST(GgufBlockTypes, DequantizersMatchTheIndependentDecoder) {
  auto f = GgufFile::Open(kSrc + "/tests/fixtures/gguf/block_types.gguf");
  ASSERT_TRUE(f.ok()) << f.status().message();
  const std::vector<std::string> names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",  "Q2_K",
                                          "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL"};
  for (const std::string& name : names) {
    const GgufTensor* t = f.value()->find(name);
    const GgufTensor* want = f.value()->find(name + ".f32");
    ASSERT_TRUE(t && want) << name;
    ASSERT_EQ(ggml_type_name(t->type), name);
    const size_t k = t->ne[0], rows = t->ne[1];
    for (size_t j = 0; j < rows; ++j) {
      const uint8_t* row = t->data + j * row_bytes(t->type, k);
      const float* ref = reinterpret_cast<const float*>(want->data) + j * k;
      std::vector<float> got = dequantize(t->type, row, k);
      ASSERT_EQ(got.size(), k);
      size_t bad = 0;
      while (bad < k && std::memcmp(&got[bad], &ref[bad], 4) == 0) ++bad;
      EXPECT_EQ(bad, k) << name << " row " << j << " element " << bad << ": " << got[bad] << " vs "
                        << ref[bad];
      // The repacking forms: IQ4_NL as Q8_0, and the min-form codes (kQ4 /
      // kQ5) decode to the same values (bit for bit; the k-quants to their f16 s, m).
      std::vector<float> again(k);
      if (t->type == GgmlType::kIQ4_NL) {
        std::vector<qt::BlockIQ4_NL> b(k / 32);
        std::memcpy(b.data(), row, b.size() * sizeof(b[0]));
        std::vector<qt::BlockQ8_0> q8(k / 32);
        qt::iq4_nl_to_q8_0(b.data(), b.size(), q8.data());
        qt::dequantize_row_q8_0(q8.data(), k, again.data());
        EXPECT_TRUE(same_bits(again, ref)) << name << " as Q8_0, row " << j;
        continue;
      }
      std::vector<uint8_t> q(k);
      std::vector<uint16_t> s(k / 32), m(k / 32);
      if (!min_form_codes(t->type, row, k, q.data(), s.data(), m.data())) continue;
      const int qmax =
          t->type == GgmlType::kQ5_0 || t->type == GgmlType::kQ5_1 || t->type == GgmlType::kQ5_K
              ? 31
              : 15;
      float mx = 0, worst = 0;
      for (size_t i = 0; i < k; ++i) {
        ASSERT_LE(q[i], qmax) << name;
        again[i] = f16_to_f32(s[i / 32]) * static_cast<float>(q[i]) + f16_to_f32(m[i / 32]);
        mx = std::max(mx, std::fabs(ref[i]));
        worst = std::max(worst, std::fabs(again[i] - ref[i]));
      }
      if (t->type == GgmlType::kQ4_K || t->type == GgmlType::kQ5_K) {
        EXPECT_LE(worst, 2e-3f * mx) << name << " codes, row " << j;
      } else {  // equal values (s q + m gives +0 where ggml's (q - z) d may give -0)
        EXPECT_EQ(worst, 0.0f) << name << " codes, row " << j;
      }
    }
  }
}

// ---- 2. llama.cpp-shaped files of the 0.5B widths (one layer, small vocab) ----

constexpr size_t kH = 896, kI = 4864, kKV = 128, kVocab = 384;

// Byte offsets of the f16 fields: the scale(s) d, then the min field if any.
struct TypeInfo {
  std::vector<size_t> d_at;  // multipliers
  int min_at = -1;           // added (Q4_1 / Q5_1 m) or subtracted (K dmin) term
  float max_code;            // largest |code| the scale multiplies
};
TypeInfo info(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_0:
      return {{0}, -1, 8};
    case GgmlType::kQ4_1:
      return {{0}, 2, 15};
    case GgmlType::kQ5_0:
      return {{0}, -1, 16};
    case GgmlType::kQ5_1:
      return {{0}, 2, 31};
    case GgmlType::kQ8_0:
    case GgmlType::kIQ4_NL:
      return {{0}, -1, 127};
    case GgmlType::kQ2_K:
      return {{80}, 82, 45};
    case GgmlType::kQ3_K:
      return {{108}, -1, 128};
    case GgmlType::kQ4_K:
      return {{0}, 2, 945};
    case GgmlType::kQ5_K:
      return {{0}, 2, 1953};
    case GgmlType::kQ6_K:
      return {{208}, -1, 4096};
    default:
      return {{}, -1, 1};
  }
}

// n rows of k weights of `type`: random bytes, scales sized so |w| <~ 0.05 and
// min terms that roughly centre the codes.
std::vector<uint8_t> random_tensor(GgmlType type, size_t n, size_t k, std::mt19937_64& rng) {
  size_t be = 0, bb = 0;
  EXPECT_TRUE(ggml_type_block(type, &be, &bb));
  std::vector<uint8_t> bytes(n * k / be * bb);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const TypeInfo ti = info(type);
  std::uniform_real_distribution<float> u(0.5f, 1.0f);
  for (size_t blk = 0; blk < bytes.size() / bb; ++blk) {
    uint8_t* p = bytes.data() + blk * bb;
    const float d = 0.05f / ti.max_code * u(rng);
    const uint16_t dh = f32_to_f16(d);
    for (size_t at : ti.d_at) std::memcpy(p + at, &dh, 2);
    if (ti.min_at >= 0) {
      // Q4_1 / Q5_1 add m: centre the codes. K-quants subtract dmin * (6-bit or
      // 4-bit min code ~ half its range) against d * (scale code * q) ~ d * max/2.
      const bool added = type == GgmlType::kQ4_1 || type == GgmlType::kQ5_1;
      const float m = added ? -d * ti.max_code / 2
                            : d * ti.max_code / 2 / (type == GgmlType::kQ2_K ? 7.5f : 31.5f);
      const uint16_t mh = f32_to_f16(m);
      std::memcpy(p + ti.min_at, &mh, 2);
    }
  }
  return bytes;
}

struct Mix {
  const char* name;
  GgmlType embed, qko_gate_up, v, down;
};
// What llama.cpp writes for Qwen2.5-0.5B (896 % 256 != 0 -> fallbacks), plus
// the legacy 4-bit types.
const Mix kMixes[] = {
    {"q4_k_m", GgmlType::kQ8_0, GgmlType::kQ5_0, GgmlType::kQ8_0, GgmlType::kQ4_K},
    {"q4_k_m/q6_k down, Q5_0 embedding", GgmlType::kQ5_0, GgmlType::kQ5_0, GgmlType::kQ5_0,
     GgmlType::kQ6_K},
    {"q5_k_m", GgmlType::kQ8_0, GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ5_K},
    {"q3_k_m", GgmlType::kQ8_0, GgmlType::kIQ4_NL, GgmlType::kIQ4_NL, GgmlType::kQ3_K},
    {"q2_k", GgmlType::kQ4_0, GgmlType::kIQ4_NL, GgmlType::kIQ4_NL, GgmlType::kQ2_K},
    {"q4_0/q4_1", GgmlType::kQ4_1, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ4_0},
};

struct Tensor {
  std::string name;
  std::vector<uint64_t> ne;
  GgmlType type;
  std::vector<uint8_t> bytes;
};

void add_metadata(GgufWriter* w) {
  w->add_string("general.architecture", "qwen2");
  w->add_u32("general.alignment", 32);
  w->add_u32("qwen2.block_count", 1);
  w->add_u32("qwen2.context_length", 4096);
  w->add_u32("qwen2.embedding_length", kH);
  w->add_u32("qwen2.feed_forward_length", kI);
  w->add_u32("qwen2.attention.head_count", 14);
  w->add_u32("qwen2.attention.head_count_kv", 2);
  w->add_f32("qwen2.rope.freq_base", 1e6f);
  w->add_f32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// The mix's tensors: matrices in their types, norms and biases F32.
std::vector<Tensor> model_tensors(const Mix& mix, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> ts;
  auto matrix = [&](const std::string& name, GgmlType t, size_t n, size_t k) {
    ts.push_back({name, {k, n}, t, random_tensor(t, n, k, rng)});
  };
  auto vec = [&](const std::string& name, size_t n, float base, float spread) {
    std::uniform_real_distribution<float> u(-spread, spread);
    std::vector<float> v(n);
    for (auto& x : v) x = base + u(rng);
    ts.push_back({name, {n}, GgmlType::kF32, f32_bytes(v)});
  };
  matrix("token_embd.weight", mix.embed, kVocab, kH);
  vec("output_norm.weight", kH, 1.0f, 0.1f);
  vec("blk.0.attn_norm.weight", kH, 1.0f, 0.1f);
  vec("blk.0.ffn_norm.weight", kH, 1.0f, 0.1f);
  matrix("blk.0.attn_q.weight", mix.qko_gate_up, kH, kH);
  vec("blk.0.attn_q.bias", kH, 0.0f, 0.1f);
  matrix("blk.0.attn_k.weight", mix.qko_gate_up, kKV, kH);
  vec("blk.0.attn_k.bias", kKV, 0.0f, 0.1f);
  matrix("blk.0.attn_v.weight", mix.v, kKV, kH);
  vec("blk.0.attn_v.bias", kKV, 0.0f, 0.1f);
  matrix("blk.0.attn_output.weight", mix.qko_gate_up, kH, kH);
  matrix("blk.0.ffn_gate.weight", mix.qko_gate_up, kI, kH);
  matrix("blk.0.ffn_up.weight", mix.qko_gate_up, kI, kH);
  matrix("blk.0.ffn_down.weight", mix.down, kH, kI);
  return ts;
}

std::string write_gguf(const std::vector<Tensor>& ts, const std::string& path) {
  GgufWriter w;
  add_metadata(&w);
  for (const auto& t : ts) {
    Status s = w.add_tensor(t.name, t.ne, t.type, t.bytes);
    EXPECT_TRUE(s.ok()) << t.name << ": " << s.message();
  }
  Status s = w.write(path);
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

// Values of row j of a loaded matrix, decoded from its kernel format.
std::vector<float> loaded_row(const kernels::WeightMatrix& m, size_t j) {
  const size_t k = static_cast<size_t>(m.cols);
  std::vector<float> y(k);
  if (m.format == kernels::WeightFormat::kQ8_0) {
    std::vector<qt::BlockQ8_0> b(k / 32);
    qt::unpack_row_q8_0(m.data, k, j, b.data());
    qt::dequantize_row_q8_0(b.data(), k, y.data());
  } else if (m.format == kernels::WeightFormat::kQ4 || m.format == kernels::WeightFormat::kQ5) {
    const size_t g = static_cast<size_t>(m.group);
    std::vector<uint8_t> q(k);
    std::vector<uint16_t> s(k / g), mn(k / g);
    qt::unpack_row_qn(m.data, k, g, m.format == kernels::WeightFormat::kQ5, j, q.data(), s.data(),
                      mn.data());
    for (size_t i = 0; i < k; ++i)
      y[i] = f16_to_f32(s[i / g]) * static_cast<float>(q[i]) + f16_to_f32(mn[i / g]);
  } else {
    ADD_FAILURE() << "unexpected format " << kernels::weight_format_name(m.format);
  }
  return y;
}

// What a GGUF type must become in memory (qwen2_weights_gguf.cc): Q8_0 and
// IQ4_NL kQ8_0, Q4_0 / Q4_1 kQ4, Q5_0 / Q5_1 kQ5, all exactly; Q4_K / Q5_K
// kQ4 / kQ5 up to their f16 s and m; Q2_K, Q3_K, Q6_K requantized to Q8_0.
void expect_matrix_holds(const kernels::WeightMatrix& m, const Tensor& t, const std::string& what) {
  const size_t n = t.ne[1], k = t.ne[0];
  ASSERT_EQ(static_cast<size_t>(m.rows), n) << what;
  ASSERT_EQ(static_cast<size_t>(m.cols), k) << what;
  const GgmlType ty = t.type;
  const bool q4 = ty == GgmlType::kQ4_0 || ty == GgmlType::kQ4_1 || ty == GgmlType::kQ4_K;
  const bool q5 = ty == GgmlType::kQ5_0 || ty == GgmlType::kQ5_1 || ty == GgmlType::kQ5_K;
  EXPECT_EQ(m.format, q4   ? kernels::WeightFormat::kQ4
                      : q5 ? kernels::WeightFormat::kQ5
                           : kernels::WeightFormat::kQ8_0)
      << what;
  const bool approx = ty == GgmlType::kQ4_K || ty == GgmlType::kQ5_K;
  const bool requant = ty == GgmlType::kQ2_K || ty == GgmlType::kQ3_K || ty == GgmlType::kQ6_K;
  size_t mismatches = 0;
  double worst = 0;
  for (size_t j = 0; j < n; ++j) {
    const std::vector<float> values = dequantize(ty, t.bytes.data() + j * row_bytes(ty, k), k);
    std::vector<float> want = values;
    if (requant) {  // ggml's Q8_0 of the exact values
      std::vector<qt::BlockQ8_0> b(k / 32);
      qt::quantize_row_q8_0(values.data(), k, b.data());
      qt::dequantize_row_q8_0(b.data(), k, want.data());
    }
    const std::vector<float> got = loaded_row(m, j);
    if (approx) {  // s = f16(d * sc), m = f16(-dmin * mn): <= 2^-11 relative each
      float mx = 0;
      for (float v : values) mx = std::max(mx, std::fabs(v));
      for (size_t i = 0; i < k; ++i)
        worst = std::max(worst, std::fabs(got[i] - want[i]) / (mx + 1e-30));
      continue;
    }
    // Equal values (+0 may stand for ggml's -0: s q + m vs (q - z) d).
    mismatches += !std::equal(got.begin(), got.end(), want.begin());
  }
  EXPECT_EQ(mismatches, 0u) << what << " (" << ggml_type_name(ty) << "): rows differ";
  EXPECT_LT(worst, 2e-3) << what << " (" << ggml_type_name(ty) << ")";
}

std::vector<float> last_logits(Qwen2Model& m, const std::vector<int32_t>& ids) {
  auto kv = KVCache::Create(m.kv_shape(1, 16, DType::F32));
  EXPECT_TRUE(kv.ok());
  Batch b;
  std::vector<int32_t> table = {0};
  b.add_sequence(ids.data(), static_cast<int32_t>(ids.size()), 0, table, false);
  for (size_t r = 0; r < ids.size(); ++r) b.logits_rows.push_back(static_cast<int32_t>(r));
  std::vector<float> logits(ids.size() * kVocab);
  Status s = m.forward(b, kv.value(), logits.data());
  EXPECT_TRUE(s.ok()) << s.message();
  return logits;
}

class GgufMixTest : public ::testing::TestWithParam<size_t> {};

TEST_P(GgufMixTest, LoadsExactlyAndRuns) {
  const Mix& mix = kMixes[GetParam()];
  SCOPED_TRACE(mix.name);
  const fs::path dir = fs::temp_directory_path() / ("qs-gguf-mix-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<Tensor> ts = model_tensors(mix, 77 + GetParam());
  const std::string path = write_gguf(ts, (dir / "mix.gguf").string());
  // The reference: the same model with every matrix as F32 of its exact values.
  std::vector<Tensor> f32 = ts;
  for (auto& t : f32) {
    if (t.type == GgmlType::kF32) continue;
    std::vector<float> v;
    const size_t k = t.ne[0];
    for (size_t j = 0; j < t.ne[1]; ++j) {
      auto r = dequantize(t.type, t.bytes.data() + j * row_bytes(t.type, k), k);
      v.insert(v.end(), r.begin(), r.end());
    }
    t.type = GgmlType::kF32;
    t.bytes = f32_bytes(v);
  }
  const std::string ref_path = write_gguf(f32, (dir / "f32.gguf").string());

  ModelOptions o;
  o.threads = 2;
  o.huge_page_weights = false;
  auto m = Qwen2Model::Load(path, o);
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::map<std::string, const Tensor*> by_name;
  for (const auto& t : ts) by_name[t.name] = &t;
  const Qwen2Weights& w = m.value()->weights();
  const Qwen2LayerWeights& l = w.layers.at(0);
  expect_matrix_holds(w.embed, *by_name["token_embd.weight"], "token_embd");
  expect_matrix_holds(l.q_proj, *by_name["blk.0.attn_q.weight"], "attn_q");
  expect_matrix_holds(l.k_proj, *by_name["blk.0.attn_k.weight"], "attn_k");
  expect_matrix_holds(l.v_proj, *by_name["blk.0.attn_v.weight"], "attn_v");
  expect_matrix_holds(l.o_proj, *by_name["blk.0.attn_output.weight"], "attn_output");
  expect_matrix_holds(l.gate_proj, *by_name["blk.0.ffn_gate.weight"], "ffn_gate");
  expect_matrix_holds(l.up_proj, *by_name["blk.0.ffn_up.weight"], "ffn_up");
  expect_matrix_holds(l.down_proj, *by_name["blk.0.ffn_down.weight"], "ffn_down");

  ModelOptions exact = o;
  exact.precision = MatmulPrecision::kExact;
  auto ref = Qwen2Model::Load(ref_path, exact);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  const std::vector<int32_t> ids = {5, 77, 300, 12, 383, 1};
  const std::vector<float> got = last_logits(*m.value(), ids);
  const std::vector<float> want = last_logits(*ref.value(), ids);
  double diff = 0, mx = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << i;
    diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
    mx = std::max(mx, static_cast<double>(std::fabs(want[i])));
  }
  std::printf("[ %s ] max |logit| %.3f, max diff vs the dequantized model %.4f (%.2f %%)\n",
              mix.name, mx, diff, 100 * diff / mx);
  EXPECT_LT(diff, 0.05 * mx);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Mixes, GgufMixTest,
                         ::testing::Range<size_t>(0, sizeof(kMixes) / sizeof(kMixes[0])));

}  // namespace
}  // namespace qs
