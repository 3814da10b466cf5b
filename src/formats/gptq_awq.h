// GPTQ and AWQ checkpoints as published on the Hugging Face hub (e.g.
// Qwen2.5-0.5B-Instruct-GPTQ-Int4/-Int8, -AWQ), recognised by the
// "quantization_config" object of config.json. Each quantized linear layer
// W [n][k] (n outputs, k inputs) is stored as, with pf = 32 / bits values per
// int32 and G groups along k:
//
//   GPTQ  qweight I32 [k/pf][n]   input i: row i/pf, bits (i%pf)*bits .. +bits-1
//         qzeros  I32 [G][n/pf]   output j: column j/pf, bits (j%pf)*bits; v1
//                                 checkpoints store zero-1 (sym 4-bit: 7 = actual 8)
//         scales  F16 [G][n]
//         g_idx   I32 [k]         group of input i (i/group_size unless desc_act)
//   AWQ   qweight I32 [k][n/8]    4-bit; nibble s of column c holds output
//                                 8c + AWQ_ORDER[s], AWQ_ORDER = {0,2,4,6,1,3,5,7}
//         qzeros  I32 [G][n/8]    same order, the zero itself
//         scales  F16 [G][n]      group of input i is i/group_size
//
//   W[j][i] = float(q[i][j] - zero[g][j]) * float(scale[g][j]),  g = group of i
//
// (one float multiply of exactly representable values: the F32 result is exact).
// Sources: AutoGPTQ qlinear_cuda_old.py (pack: zeros -= 1; forward: zeros + 1),
// GPTQModel's "checkpoint_format" gptq vs gptq_v2 (v2 stores the zero itself),
// AutoAWQ packing_utils.py (AWQ_ORDER / AWQ_REVERSE_ORDER). See docs/QUANTIZATION.md.
//
// Every tensor is treated as hostile: dtypes, packed shapes, group sizes and
// g_idx values are checked, and errors name the file and tensor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/safetensors.h"

namespace qs {

enum class QuantMethod : uint8_t { kGptq, kAwq };

struct QuantConfig {
  QuantMethod method = QuantMethod::kGptq;
  int bits = 4;              // GPTQ 4 or 8; AWQ 4
  int64_t group_size = 128;  // -1: one group over all inputs
  bool sym = true;           // informational: zeros are read from qzeros either way
  bool desc_act = false;     // act-order: g_idx is a permuted grouping
  int zero_offset = 1;       // added to the stored zero: 1 for GPTQ v1, 0 for gptq_v2 and AWQ
  std::vector<std::string> modules_to_not_convert;  // AWQ: kept in float
};

// Parses the raw "quantization_config" JSON object text (Qwen2Config::quantization_config).
// `file` is used in messages. Unsupported methods/bits/versions are errors.
Result<QuantConfig> parse_quant_config(std::string_view json_text, const std::string& file);

// The tensors of one quantized linear layer W [n][k]; views into a TensorStore.
struct QuantizedLinear {
  std::string prefix;  // e.g. "model.layers.0.mlp.up_proj"
  int64_t n = 0, k = 0, groups = 0;
  const TensorView* qweight = nullptr;
  const TensorView* qzeros = nullptr;
  const TensorView* scales = nullptr;
  const TensorView* g_idx = nullptr;  // GPTQ only; nullptr: i / group_size
};

// Finds <prefix>.qweight/.qzeros/.scales(/.g_idx) and checks dtypes, packed
// shapes against (n, k, config) and every g_idx value. `where` (the model
// directory) names the place of a missing tensor.
Result<QuantizedLinear> find_quantized_linear(const TensorStore& store, const std::string& prefix,
                                              int64_t n, int64_t k, const QuantConfig& c,
                                              const std::string& where);

// The integer form of a layer: what a group-wise INT4/INT8 kernel format needs.
struct UnpackedLinear {
  int64_t n = 0, k = 0, groups = 0;
  int bits = 4;
  std::vector<uint8_t> q;      // [n][k] quantized values in [0, 2^bits)
  std::vector<int32_t> zeros;  // [groups][n] actual zero points (offset applied)
  std::vector<float> scales;   // [groups][n] F16 scales widened to F32
  std::vector<int32_t> group;  // [k] group of input i
};

UnpackedLinear unpack_linear(const QuantizedLinear& l, const QuantConfig& c);

// out [n][k] F32: float(q - zero) * scale (exact).
void dequantize(const UnpackedLinear& u, float* out);

// ---- The same layer in the kernels' group-wise integer forms (kernels.h kQ4 /
// kQ8_0), without going through floats. Both need contiguous groups (input i in
// group i / (k / groups): desc_act false, or a g_idx that equals it) and scales
// that are f16 values (the hub's are F16). An error gives the reason the layer
// cannot be held that way (the caller keeps the exact BF16 dequantization).

// True when u.group[i] == i / (k / groups) for every i.
bool has_contiguous_groups(const UnpackedLinear& u);

// 4-bit: w = s * q + m per group, q as unpacked, s = the scale, m = f16(-z * s)
// rounded to nearest even -- the only rounding: |m - (-z s)| <= 2^-11 |z s|
// (half an f16 ulp; 2^-25 absolute below f16's normal range). Exact when z * s
// fits 11 bits (e.g. symmetric GPTQ, z = 8). Errors: bits != 4, permuted groups,
// a scale that is not an f16 value, -z * s beyond f16's range.
struct Int4ScaleMin {
  int64_t group = 0;        // k / groups
  std::vector<uint16_t> s;  // [n][groups] f16 bits
  std::vector<uint16_t> m;  // [n][groups] f16 bits
};
Result<Int4ScaleMin> to_int4_scale_min(const UnpackedLinear& u);

// 8-bit: w = d * v exactly, v = q - z in [-128, 127] (int8), d = the f16 scale of
// v's group: what GGUF Q8_0 blocks hold when the group is a multiple of 32
// (symmetric GPTQ-Int8: z = 128, every block of the group repeats its d).
// Errors: bits != 8, permuted groups, a scale that is not an f16 value, a
// q - z outside int8 (asymmetric zeros), groups not a multiple of 32.
Result<std::vector<uint16_t>> to_int8_scales(const UnpackedLinear& u);  // [n][groups] f16 bits

}  // namespace qs
