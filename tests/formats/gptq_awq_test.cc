// GPTQ / AWQ unpacking against the packer in tools/reference/pack_gptq_awq.py
// (committed fixtures in tests/fixtures/gptq: packed projections of the tiny
// model, and the numpy dequantization's checksum per layer), hand-packed words
// whose meaning is fixed by the formats' definitions, and a table of corrupt
// inputs that must give clear errors.
#include "formats/gptq_awq.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "formats/safetensors_writer.h"

namespace qs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kFixtures = std::string(QS_SOURCE_DIR) + "/tests/fixtures/gptq/";
const char* kProj[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                       "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                       "mlp.down_proj"};

// Tiny config (tools/synth/configs/tiny.json): H 64, I 128, 4 heads x 16, 2 kv heads.
void proj_shape(const std::string& p, int64_t* n, int64_t* k) {
  const int64_t H = 64, I = 128, q = 64, kv = 32;
  if (p == "self_attn.q_proj") *n = q, *k = H;
  if (p == "self_attn.k_proj" || p == "self_attn.v_proj") *n = kv, *k = H;
  if (p == "self_attn.o_proj") *n = H, *k = q;
  if (p == "mlp.gate_proj" || p == "mlp.up_proj") *n = I, *k = H;
  if (p == "mlp.down_proj") *n = H, *k = I;
}

// tools/reference/pack_gptq_awq.py checksum64: sum of splitmix64(bits_i + i * golden) mod 2^64.
uint64_t checksum64(const std::vector<float>& v) {
  uint64_t sum = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t b;
    std::memcpy(&b, &v[i], 4);
    uint64_t z = b + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    sum += z ^ (z >> 31);
  }
  return sum;
}

json load_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

// Every directory temp_dir made, removed when the test program ends.
std::vector<std::string>& made_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}
class RemoveDirs : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& d : made_dirs()) fs::remove_all(d);
  }
};
const auto* const kRemoveDirs = ::testing::AddGlobalTestEnvironment(new RemoveDirs);

std::string temp_dir(const std::string& tag) {
  static int counter = 0;
  auto d = fs::temp_directory_path() /
           ("qs-gptq-" + std::to_string(::getpid()) + "-" + tag + std::to_string(counter++));
  fs::create_directories(d);
  made_dirs().push_back(d.string());
  return d.string();
}

// A tensor we own, for writing test files.
struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<OwnedTensor> read_all(const std::string& path) {
  auto f = SafetensorsFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().message();
  std::vector<OwnedTensor> out;
  for (const auto& t : f.value()->tensors())
    out.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)});
  return out;
}

std::unique_ptr<TensorStore> write_store(const std::vector<OwnedTensor>& ts,
                                         const std::string& dir) {
  std::vector<TensorToWrite> w;
  for (const auto& t : ts) w.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  Status s = write_safetensors(dir + "/model.safetensors", w);
  EXPECT_TRUE(s.ok()) << s.message();
  auto st = TensorStore::OpenDir(dir);
  EXPECT_TRUE(st.ok()) << st.status().message();
  return std::move(st).value();
}

class FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTest, DequantizationEqualsPackerBitForBit) {
  const json doc = load_json(kFixtures + GetParam() + ".json");
  auto qc = parse_quant_config(doc.at("quantization_config").dump(), "config.json");
  ASSERT_TRUE(qc.ok()) << qc.status().message();
  auto store = write_store(read_all(kFixtures + GetParam() + ".safetensors"), temp_dir("fx"));
  int checked = 0;
  for (int layer = 0; layer < 2; ++layer)
    for (const char* p : kProj) {
      const std::string prefix = "model.layers." + std::to_string(layer) + "." + p;
      int64_t n = 0, k = 0;
      proj_shape(p, &n, &k);
      auto l = find_quantized_linear(*store, prefix, n, k, qc.value(), "fixture");
      ASSERT_TRUE(l.ok()) << l.status().message();
      std::vector<float> w(static_cast<size_t>(n * k));
      dequantize(unpack_linear(l.value(), qc.value()), w.data());
      const std::string key = prefix + ".weight";
      EXPECT_EQ(std::to_string(checksum64(w)),
                doc.at("dequant_checksum64").at(key).get<std::string>())
          << key;
      const auto& first = doc.at("dequant_first").at(key);
      for (size_t i = 0; i < first.size(); ++i)
        EXPECT_EQ(w[i], std::stof(first[i].get<std::string>())) << key << " [" << i << "]";
      ++checked;
    }
  EXPECT_EQ(checked, 14);
}

INSTANTIATE_TEST_SUITE_P(Packed, FixtureTest,
                         ::testing::Values("gptq-int4", "gptq-int8", "gptq-int4-actorder", "awq"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(GptqAwqFixture, ActOrderGroupIndexIsPermuted) {
  // The act-order fixture must exercise a non-monotonic g_idx, or the general path is untested.
  auto ts = read_all(kFixtures + "gptq-int4-actorder.safetensors");
  for (const auto& t : ts)
    if (t.name == "model.layers.0.mlp.up_proj.g_idx") {
      std::vector<int32_t> g(t.bytes.size() / 4);
      std::memcpy(g.data(), t.bytes.data(), t.bytes.size());
      bool sorted = std::is_sorted(g.begin(), g.end());
      EXPECT_FALSE(sorted);
      return;
    }
  FAIL() << "no g_idx in the act-order fixture";
}

// ---- integer forms for the kernels (kQ4: s q + m; kQ8_0: d (q - z))

TEST_P(FixtureTest, IntegerFormsReproduceTheExactDequantization) {
  const json doc = load_json(kFixtures + GetParam() + ".json");
  auto qc = parse_quant_config(doc.at("quantization_config").dump(), "config.json");
  ASSERT_TRUE(qc.ok()) << qc.status().message();
  auto store = write_store(read_all(kFixtures + GetParam() + ".safetensors"), temp_dir("int"));
  const bool actorder = GetParam() == "gptq-int4-actorder";
  for (int layer = 0; layer < 2; ++layer)
    for (const char* p : kProj) {
      const std::string prefix = "model.layers." + std::to_string(layer) + "." + p;
      int64_t n = 0, k = 0;
      proj_shape(p, &n, &k);
      auto l = find_quantized_linear(*store, prefix, n, k, qc.value(), "fixture");
      ASSERT_TRUE(l.ok()) << l.status().message();
      const UnpackedLinear u = unpack_linear(l.value(), qc.value());
      std::vector<float> w(static_cast<size_t>(n * k));
      dequantize(u, w.data());
      EXPECT_EQ(has_contiguous_groups(u), !actorder) << prefix;
      const int64_t G = u.groups, gs = k / G;
      if (u.bits == 4) {
        auto f = to_int4_scale_min(u);
        if (actorder) {
          ASSERT_FALSE(f.ok());
          EXPECT_NE(f.status().message().find("permuted"), std::string::npos);
          continue;
        }
        ASSERT_TRUE(f.ok()) << f.status().message();
        ASSERT_EQ(f.value().group, gs);
        for (int64_t j = 0; j < n; ++j)
          for (int64_t i = 0; i < k; ++i) {
            const size_t at = static_cast<size_t>(j * G + i / gs);
            const float s = f16_to_f32(f.value().s[at]), m = f16_to_f32(f.value().m[at]);
            const float z = static_cast<float>(u.zeros[static_cast<size_t>(i / gs * n + j)]);
            // m is -z s rounded to nearest f16 (exactly what f32_to_f16 gives)...
            ASSERT_EQ(f.value().m[at], f32_to_f16(-z * s)) << prefix;
            // ...so s q + m is the exact value whenever -z s is an f16 (GPTQ sym: z = 8).
            const float got = s * static_cast<float>(u.q[static_cast<size_t>(j * k + i)]) + m;
            if (GetParam() == "gptq-int4") {
              ASSERT_EQ(got, w[static_cast<size_t>(j * k + i)]) << prefix;
            }
          }
      } else {
        auto d = to_int8_scales(u);
        ASSERT_TRUE(d.ok()) << d.status().message();
        for (int64_t j = 0; j < n; ++j)
          for (int64_t i = 0; i < k; ++i) {
            const int v =
                u.q[static_cast<size_t>(j * k + i)] - u.zeros[static_cast<size_t>(i / gs * n + j)];
            ASSERT_GE(v, -128);
            ASSERT_LE(v, 127);
            ASSERT_EQ(
                f16_to_f32(d.value()[static_cast<size_t>(j * G + i / gs)]) * static_cast<float>(v),
                w[static_cast<size_t>(j * k + i)])
                << prefix;
          }
      }
    }
}

TEST(GptqAwqIntegerForms, WhatTheKernelsCannotHoldIsAnErrorWithTheReason) {
  // A hand-built unpacked layer n=2, k=64, two groups of 32.
  auto layer = [](int bits) {
    UnpackedLinear u;
    u.n = 2;
    u.k = 64;
    u.groups = 2;
    u.bits = bits;
    u.q.assign(128, bits == 4 ? 8 : 128);
    u.zeros.assign(4, bits == 4 ? 8 : 128);
    u.scales.assign(4, 0.5f);
    for (int i = 0; i < 64; ++i) u.group.push_back(i / 32);
    return u;
  };
  ASSERT_TRUE(to_int4_scale_min(layer(4)).ok());
  ASSERT_TRUE(to_int8_scales(layer(8)).ok());
  const std::vector<std::pair<std::string, std::function<Status()>>> cases = {
      {"is not an f16 value",
       [&] {
         auto u = layer(4);
         u.scales[3] = 0.1f;  // an F32 scale with more than 11 bits
         return to_int4_scale_min(u).status();
       }},
      {"beyond the f16 range",
       [&] {
         auto u = layer(4);
         u.scales[1] = 60000.0f;  // an f16 value, but -8 * 60000 is not
         return to_int4_scale_min(u).status();
       }},
      {"permuted",
       [&] {
         auto u = layer(4);
         std::swap(u.group[0], u.group[63]);
         return to_int4_scale_min(u).status();
       }},
      {"not 4-bit", [&] { return to_int4_scale_min(layer(8)).status(); }},
      {"not 8-bit", [&] { return to_int8_scales(layer(4)).status(); }},
      {"outside int8: asymmetric zeros",
       [&] {
         auto u = layer(8);
         u.zeros[2] = 3;  // group 1, output 0: q 128 - 3 = 125 is fine...
         u.q[40] = 255;   // ...255 - 3 = 252 is not
         return to_int8_scales(u).status();
       }},
      {"not a multiple of the 32-value block",
       [&] {
         auto u = layer(8);
         u.groups = 4;  // groups of 16
         u.zeros.assign(8, 128);
         u.scales.assign(8, 0.5f);
         for (int i = 0; i < 64; ++i) u.group[static_cast<size_t>(i)] = i / 16;
         return to_int8_scales(u).status();
       }},
  };
  for (const auto& [want, fn] : cases) {
    Status s = fn();
    ASSERT_FALSE(s.ok()) << want;
    EXPECT_NE(s.message().find(want), std::string::npos) << want << ": " << s.message();
  }
}

// ---- hand-packed words: the meaning of each bit is fixed by the format definitions

OwnedTensor i32_tensor(const std::string& name, std::vector<int64_t> shape,
                       const std::vector<uint32_t>& v) {
  OwnedTensor t{name, DType::I32, std::move(shape), std::vector<uint8_t>(v.size() * 4)};
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}
OwnedTensor f16_tensor(const std::string& name, std::vector<int64_t> shape,
                       const std::vector<float>& v) {
  OwnedTensor t{name, DType::F16, std::move(shape), std::vector<uint8_t>(v.size() * 2)};
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h = f32_to_f16(v[i]);
    std::memcpy(t.bytes.data() + 2 * i, &h, 2);
  }
  return t;
}

QuantConfig config(QuantMethod m, int bits, int64_t gs, int zero_offset) {
  QuantConfig c;
  c.method = m;
  c.bits = bits;
  c.group_size = gs;
  c.zero_offset = zero_offset;
  return c;
}

TEST(GptqAwqHandPacked, GptqV1Int4) {
  // W [n=8][k=8], one group. Input i of output j: qweight[0][j] nibble i.
  // Output 3 gets q = i + 1 at input i; every other output q = 8. Stored zeros 7 (actual 8).
  std::vector<uint32_t> qw(8, 0x88888888u);
  qw[3] = 0x87654321u;  // nibble i = i + 1
  auto store = write_store(
      {i32_tensor("m.qweight", {1, 8}, qw), i32_tensor("m.qzeros", {1, 1}, {0x77777777u}),
       f16_tensor("m.scales", {1, 8}, std::vector<float>(8, 0.5f)),
       i32_tensor("m.g_idx", {8}, std::vector<uint32_t>(8, 0))},
      temp_dir("hp"));
  auto c = config(QuantMethod::kGptq, 4, -1, 1);
  auto l = find_quantized_linear(*store, "m", 8, 8, c, "hand");
  ASSERT_TRUE(l.ok()) << l.status().message();
  std::vector<float> w(64);
  dequantize(unpack_linear(l.value(), c), w.data());
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 8; ++i)
      EXPECT_EQ(w[j * 8 + i], j == 3 ? (i + 1 - 8) * 0.5f : 0.0f) << j << "," << i;
  // gptq_v2 (zero_offset 0): the stored 7 is the zero itself.
  c.zero_offset = 0;
  dequantize(unpack_linear(l.value(), c), w.data());
  EXPECT_EQ(w[0], 0.5f);
}

TEST(GptqAwqHandPacked, GptqInt8AndGroupIndex) {
  // W [n=4][k=8] 8-bit, 2 groups of 4, g_idx alternates 0,1,0,1...: input i uses group i%2.
  // qweight [2][4]: input i in row i/4, byte i%4. All q = 130; zeros: group0 128, group1 126.
  std::vector<uint32_t> qw(8, 0x82828282u);
  auto store =
      write_store({i32_tensor("m.qweight", {2, 4}, qw),
                   i32_tensor("m.qzeros", {2, 1}, {0x7F7F7F7Fu, 0x7D7D7D7Du}),  // stored zero-1
                   f16_tensor("m.scales", {2, 4}, {1, 1, 1, 1, 0.25f, 0.25f, 0.25f, 0.25f}),
                   i32_tensor("m.g_idx", {8}, {0, 1, 0, 1, 0, 1, 0, 1})},
                  temp_dir("hp"));
  auto c = config(QuantMethod::kGptq, 8, 4, 1);
  c.desc_act = true;
  auto l = find_quantized_linear(*store, "m", 4, 8, c, "hand");
  ASSERT_TRUE(l.ok()) << l.status().message();
  std::vector<float> w(32);
  dequantize(unpack_linear(l.value(), c), w.data());
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 8; ++i) EXPECT_EQ(w[j * 8 + i], i % 2 == 0 ? 2.0f : 1.0f) << j << "," << i;
}

TEST(GptqAwqHandPacked, AwqGemmOrder) {
  // W [n=8][k=1]: qweight [1][1]; nibble s holds output AWQ_ORDER[s] = {0,2,4,6,1,3,5,7}[s].
  // Nibble s = s, so output j has q = slot of j = {0,4,1,5,2,6,3,7}[j]. Zeros the same way:
  // zero nibble s = 1 for every s. Scale of output j = j + 1.
  auto store = write_store({i32_tensor("m.qweight", {1, 1}, {0x76543210u}),
                            i32_tensor("m.qzeros", {1, 1}, {0x11111111u}),
                            f16_tensor("m.scales", {1, 8}, {1, 2, 3, 4, 5, 6, 7, 8})},
                           temp_dir("hp"));
  auto c = config(QuantMethod::kAwq, 4, -1, 0);
  auto l = find_quantized_linear(*store, "m", 8, 1, c, "hand");
  ASSERT_TRUE(l.ok()) << l.status().message();
  std::vector<float> w(8);
  dequantize(unpack_linear(l.value(), c), w.data());
  const int slot[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  for (int j = 0; j < 8; ++j) EXPECT_EQ(w[j], static_cast<float>((slot[j] - 1) * (j + 1))) << j;
}

// ---- configs

TEST(GptqAwqConfig, HubConfigsParse) {
  auto g = parse_quant_config(load_json(kFixtures + "gptq-int8.json")["quantization_config"].dump(),
                              "config.json");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g.value().method, QuantMethod::kGptq);
  EXPECT_EQ(g.value().bits, 8);
  EXPECT_EQ(g.value().zero_offset, 1);
  EXPECT_FALSE(g.value().desc_act);
  auto a = parse_quant_config(load_json(kFixtures + "awq.json")["quantization_config"].dump(),
                              "config.json");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a.value().method, QuantMethod::kAwq);
  EXPECT_EQ(a.value().zero_offset, 0);
  auto v2 = parse_quant_config(
      R"({"quant_method":"gptq","bits":4,"group_size":128,"checkpoint_format":"gptq_v2"})", "c");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2.value().zero_offset, 0);
}

TEST(GptqAwqConfig, BadConfigsAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"quant_method":"bitsandbytes","bits":4,"group_size":128})", "quant_method"},
      {R"({"quant_method":"gptq","bits":3,"group_size":128})", "bits"},
      {R"({"quant_method":"awq","bits":8,"group_size":128})", "bits"},
      {R"({"quant_method":"gptq","group_size":128})", "bits"},
      {R"({"quant_method":"gptq","bits":4,"group_size":0})", "group_size"},
      {R"({"quant_method":"gptq","bits":4})", "group_size"},
      {R"({"quant_method":"awq","bits":4,"group_size":128,"version":"gemv"})", "version"},
      {R"({"quant_method":"gptq","bits":4,"group_size":128,"checkpoint_format":"marlin"})",
       "checkpoint_format"},
      {R"({"quant_method":"gptq","bits":"4","group_size":128})", "bits"},
      {R"([1,2])", "object"},
  };
  for (const auto& [text, word] : cases) {
    auto r = parse_quant_config(text, "config.json");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(word), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("config.json"), std::string::npos) << r.status().message();
  }
}

// ---- corrupt files: each mutation of a good layer gives an error naming the problem

TEST(GptqAwqCorrupt, ClearErrors) {
  const auto good = read_all(kFixtures + "gptq-int4.safetensors");
  auto qc = parse_quant_config(
      load_json(kFixtures + "gptq-int4.json")["quantization_config"].dump(), "config.json");
  ASSERT_TRUE(qc.ok());
  const std::string p = "model.layers.0.mlp.up_proj";  // n 128, k 64, group 32
  struct Case {
    std::string what;
    std::function<void(std::vector<OwnedTensor>&, QuantConfig&)> mutate;
    std::string expect;  // substring of the message
  };
  auto find = [&](std::vector<OwnedTensor>& ts, const std::string& name) -> OwnedTensor& {
    for (auto& t : ts)
      if (t.name == name) return t;
    throw std::runtime_error("no " + name);
  };
  auto drop = [&](std::vector<OwnedTensor>& ts, const std::string& name) {
    std::erase_if(ts, [&](const OwnedTensor& t) { return t.name == name; });
  };
  const std::vector<Case> cases = {
      {"missing scales", [&](auto& ts, auto&) { drop(ts, p + ".scales"); },
       "missing tensor '" + p + ".scales'"},
      {"missing qzeros", [&](auto& ts, auto&) { drop(ts, p + ".qzeros"); },
       "missing tensor '" + p + ".qzeros'"},
      {"missing qweight", [&](auto& ts, auto&) { drop(ts, p + ".qweight"); },
       "missing tensor '" + p + ".qweight'"},
      {"qweight packed along the wrong axis",
       [&](auto& ts, auto&) {
         find(ts, p + ".qweight").shape = {64, 16};
       },
       "'" + p + ".qweight': shape [64, 16] does not match config (expected [8, 128])"},
      {"qzeros wrong shape",
       [&](auto& ts, auto&) {
         find(ts, p + ".qzeros").shape = {16, 2};
       },
       p + ".qzeros': shape"},
      {"scales wrong dtype",
       [&](auto& ts, auto&) {
         auto& t = find(ts, p + ".scales");
         t.dtype = DType::I16;
       },
       p + ".scales': dtype I16"},
      {"qweight as F32", [&](auto& ts, auto&) { find(ts, p + ".qweight").dtype = DType::F32; },
       p + ".qweight': dtype F32"},
      {"g_idx out of range",
       [&](auto& ts, auto&) {
         auto& t = find(ts, p + ".g_idx");
         int32_t bad = 2;  // two groups: 0, 1
         std::memcpy(t.bytes.data() + 4 * 5, &bad, 4);
       },
       "value 2 at 5 is outside [0, 2)"},
      {"negative g_idx",
       [&](auto& ts, auto&) {
         auto& t = find(ts, p + ".g_idx");
         int32_t bad = -1;
         std::memcpy(t.bytes.data(), &bad, 4);
       },
       "value -1 at 0"},
      {"group size does not divide k", [&](auto&, auto& c) { c.group_size = 48; },
       "group_size 48 does not divide in_features 64"},
      {"missing g_idx with desc_act",
       [&](auto& ts, auto& c) {
         drop(ts, p + ".g_idx");
         c.desc_act = true;
       },
       "missing tensor '" + p + ".g_idx'"},
      {"8-bit config on 4-bit tensors", [&](auto&, auto& c) { c.bits = 8; },
       "does not match config"},
  };
  for (const auto& cs : cases) {
    auto ts = good;
    QuantConfig c = qc.value();
    cs.mutate(ts, c);
    for (auto& t : ts) {  // keep the file itself valid: bytes must match the shape/dtype
      size_t want = static_cast<size_t>(dtype_size(t.dtype));
      for (int64_t d : t.shape) want *= static_cast<size_t>(d);
      t.bytes.resize(want);
    }
    auto store = write_store(ts, temp_dir("bad"));
    auto l = find_quantized_linear(*store, p, 128, 64, c, "/models/x");
    ASSERT_FALSE(l.ok()) << cs.what;
    EXPECT_NE(l.status().message().find(cs.expect), std::string::npos)
        << cs.what << ": " << l.status().message();
  }
}

}  // namespace
}  // namespace qs
