#include "formats/gptq_awq.h"

#include <cctype>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "formats/json_fields.h"
#include "formats/tensor_check.h"

namespace qs {

using nlohmann::json;
namespace jf = json_fields;

namespace {

// Nibble s of an AWQ GEMM word holds output 8c + kAwqOrder[s].
constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
// The inverse (AutoAWQ's AWQ_REVERSE_ORDER): output 8c + j sits at nibble kAwqSlot[j].
constexpr int kAwqSlot[8] = {0, 4, 1, 5, 2, 6, 3, 7};

// Tensor data is not necessarily aligned (safetensors offsets): read by memcpy.
inline uint32_t load_u32(const uint8_t* p, size_t i) {
  uint32_t v;
  std::memcpy(&v, p + 4 * i, 4);
  return v;
}
inline uint16_t load_u16(const uint8_t* p, size_t i) {
  uint16_t v;
  std::memcpy(&v, p + 2 * i, 2);
  return v;
}

float load_scale(const TensorView& t, size_t i) {
  switch (t.dtype) {
    case DType::F16:
      return f16_to_f32(load_u16(t.data, i));
    case DType::BF16:
      return bf16_to_f32(load_u16(t.data, i));
    default: {
      float f;
      std::memcpy(&f, t.data + 4 * i, 4);
      return f;
    }
  }
}

}  // namespace

Result<QuantConfig> parse_quant_config(std::string_view json_text, const std::string& file) {
  QS_ASSIGN_OR_RETURN(json j, jf::parse_object(std::string(json_text), file));
  const std::string ctx = file + ": quantization_config";
  QuantConfig c;
  std::string method;
  QS_RETURN_IF_ERROR(jf::get_string(j, "quant_method", ctx, &method));
  if (method == "gptq") {
    c.method = QuantMethod::kGptq;
  } else if (method == "awq") {
    c.method = QuantMethod::kAwq;
  } else {
    return jf::field_error(ctx, "quant_method",
                           "'" + method + "' is not supported (supported: gptq, awq)");
  }
  int64_t bits = 0;
  if (!jf::has(j, "bits")) return jf::field_error(ctx, "bits", "is missing");
  QS_RETURN_IF_ERROR(jf::get_int(j, "bits", ctx, &bits));
  if (c.method == QuantMethod::kGptq ? (bits != 4 && bits != 8) : bits != 4)
    return jf::field_error(ctx, "bits",
                           std::to_string(bits) + " is not supported (" + method +
                               (c.method == QuantMethod::kGptq ? ": 4 or 8)" : ": 4)"));
  c.bits = static_cast<int>(bits);
  if (!jf::has(j, "group_size")) return jf::field_error(ctx, "group_size", "is missing");
  QS_RETURN_IF_ERROR(jf::get_int(j, "group_size", ctx, &c.group_size));
  if (c.group_size != -1 && c.group_size <= 0)
    return jf::field_error(ctx, "group_size", "must be -1 or > 0");
  if (c.method == QuantMethod::kGptq) {
    QS_RETURN_IF_ERROR(jf::get_bool(j, "sym", ctx, &c.sym));
    QS_RETURN_IF_ERROR(jf::get_bool(j, "desc_act", ctx, &c.desc_act));
    // optimum / AutoGPTQ write no field (v1); GPTQModel writes "checkpoint_format".
    std::string fmt = "gptq";
    QS_RETURN_IF_ERROR(jf::get_string(j, "checkpoint_format", ctx, &fmt));
    if (fmt == "gptq") {
      c.zero_offset = 1;
    } else if (fmt == "gptq_v2") {
      c.zero_offset = 0;
    } else {
      return jf::field_error(ctx, "checkpoint_format",
                             "'" + fmt + "' is not supported (supported: gptq, gptq_v2)");
    }
  } else {
    c.zero_offset = 0;
    c.sym = false;
    std::string version = "gemm";
    QS_RETURN_IF_ERROR(jf::get_string(j, "version", ctx, &version));
    for (char& ch : version) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (version != "gemm")
      return jf::field_error(ctx, "version",
                             "'" + version + "' is not supported (supported: gemm)");
    bool zero_point = true;
    QS_RETURN_IF_ERROR(jf::get_bool(j, "zero_point", ctx, &zero_point));
    if (!zero_point)
      return jf::field_error(ctx, "zero_point", "false is not supported (AWQ GEMM uses zeros)");
    QS_RETURN_IF_ERROR(
        jf::get_string_list(j, "modules_to_not_convert", ctx, &c.modules_to_not_convert));
  }
  return c;
}

Result<QuantizedLinear> find_quantized_linear(const TensorStore& store, const std::string& prefix,
                                              int64_t n, int64_t k, const QuantConfig& c,
                                              const std::string& where) {
  QuantizedLinear l;
  l.prefix = prefix;
  l.n = n;
  l.k = k;
  const int64_t pf = 32 / c.bits;
  const int64_t gs = c.group_size == -1 ? k : c.group_size;
  const std::string layer =
      where + ": " + prefix + " [" + std::to_string(n) + "][" + std::to_string(k) + "]";
  if (k % gs != 0)
    return Status::Error(layer + ": group_size " + std::to_string(gs) +
                         " does not divide in_features " + std::to_string(k));
  l.groups = k / gs;
  if (n % pf != 0 || (c.method == QuantMethod::kGptq && k % pf != 0))
    return Status::Error(layer + ": dimensions are not multiples of " + std::to_string(pf) +
                         " (values per int32 at " + std::to_string(c.bits) + " bits)");
  auto get = [&](const char* suffix, const TensorView** out) -> Status {
    *out = store.find(prefix + "." + suffix);
    if (*out == nullptr)
      return Status::Error(where + ": missing tensor '" + prefix + "." + suffix + "' (" +
                           (c.method == QuantMethod::kGptq ? "gptq" : "awq") +
                           " quantization_config)");
    return Status::Ok();
  };
  QS_RETURN_IF_ERROR(get("qweight", &l.qweight));
  QS_RETURN_IF_ERROR(get("qzeros", &l.qzeros));
  QS_RETURN_IF_ERROR(get("scales", &l.scales));
  const auto i32 = {DType::I32};
  const auto floats = {DType::F16, DType::BF16, DType::F32};
  const std::string qw = prefix + ".qweight", qz = prefix + ".qzeros", sc = prefix + ".scales";
  if (c.method == QuantMethod::kGptq) {
    QS_RETURN_IF_ERROR(check_tensor(l.qweight, qw, {k / pf, n}, i32));
  } else {
    QS_RETURN_IF_ERROR(check_tensor(l.qweight, qw, {k, n / pf}, i32));
  }
  QS_RETURN_IF_ERROR(check_tensor(l.qzeros, qz, {l.groups, n / pf}, i32));
  QS_RETURN_IF_ERROR(check_tensor(l.scales, sc, {l.groups, n}, floats));
  if (c.method == QuantMethod::kGptq) {
    l.g_idx = store.find(prefix + ".g_idx");
    if (l.g_idx == nullptr && c.desc_act)
      return Status::Error(where + ": missing tensor '" + prefix + ".g_idx' (desc_act is true)");
    if (l.g_idx != nullptr) {
      QS_RETURN_IF_ERROR(check_tensor(l.g_idx, prefix + ".g_idx", {k}, i32));
      for (int64_t i = 0; i < k; ++i) {
        const int32_t g = static_cast<int32_t>(load_u32(l.g_idx->data, static_cast<size_t>(i)));
        if (g < 0 || g >= l.groups)
          return Status::Error(*l.g_idx->file + ": tensor '" + prefix + ".g_idx': value " +
                               std::to_string(g) + " at " + std::to_string(i) + " is outside [0, " +
                               std::to_string(l.groups) + ")");
      }
    }
  }
  return l;
}

UnpackedLinear unpack_linear(const QuantizedLinear& l, const QuantConfig& c) {
  UnpackedLinear u;
  const int64_t n = l.n, k = l.k, G = l.groups;
  const int bits = c.bits, pf = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  u.n = n;
  u.k = k;
  u.groups = G;
  u.bits = bits;
  u.q.resize(static_cast<size_t>(n * k));
  u.zeros.resize(static_cast<size_t>(G * n));
  u.scales.resize(static_cast<size_t>(G * n));
  u.group.resize(static_cast<size_t>(k));
  const bool awq = c.method == QuantMethod::kAwq;
  // The slot (bit position / bits) of output j inside its packed int32 word.
  auto col_slot = [&](int64_t j) { return awq ? kAwqSlot[j % 8] : static_cast<int>(j % pf); };
  if (awq) {
    // qweight [k][n/8]: word (i, c) holds outputs 8c + order[s] at nibble s.
    for (int64_t i = 0; i < k; ++i)
      for (int64_t cw = 0; cw < n / pf; ++cw) {
        const uint32_t w = load_u32(l.qweight->data, static_cast<size_t>(i * (n / pf) + cw));
        for (int s = 0; s < pf; ++s)
          u.q[static_cast<size_t>((cw * pf + kAwqOrder[s]) * k + i)] =
              static_cast<uint8_t>((w >> (bits * s)) & mask);
      }
  } else {
    // qweight [k/pf][n]: word (r, j) holds inputs r*pf + s at bits s*bits.
    for (int64_t r = 0; r < k / pf; ++r)
      for (int64_t j = 0; j < n; ++j) {
        const uint32_t w = load_u32(l.qweight->data, static_cast<size_t>(r * n + j));
        uint8_t* dst = &u.q[static_cast<size_t>(j * k + r * pf)];
        for (int s = 0; s < pf; ++s) dst[s] = static_cast<uint8_t>((w >> (bits * s)) & mask);
      }
  }
  for (int64_t g = 0; g < G; ++g)
    for (int64_t j = 0; j < n; ++j) {
      const uint32_t w = load_u32(l.qzeros->data, static_cast<size_t>(g * (n / pf) + j / pf));
      const size_t at = static_cast<size_t>(g * n + j);
      u.zeros[at] = static_cast<int32_t>((w >> (bits * col_slot(j))) & mask) + c.zero_offset;
      u.scales[at] = load_scale(*l.scales, at);
    }
  const int64_t gs = k / G;
  for (int64_t i = 0; i < k; ++i)
    u.group[static_cast<size_t>(i)] =
        l.g_idx ? static_cast<int32_t>(load_u32(l.g_idx->data, static_cast<size_t>(i)))
                : static_cast<int32_t>(i / gs);
  return u;
}

void dequantize(const UnpackedLinear& u, float* out) {
  for (int64_t j = 0; j < u.n; ++j) {
    const uint8_t* q = &u.q[static_cast<size_t>(j * u.k)];
    float* o = out + j * u.k;
    for (int64_t i = 0; i < u.k; ++i) {
      const size_t at = static_cast<size_t>(u.group[static_cast<size_t>(i)] * u.n + j);
      o[i] = static_cast<float>(static_cast<int32_t>(q[i]) - u.zeros[at]) * u.scales[at];
    }
  }
}

bool has_contiguous_groups(const UnpackedLinear& u) {
  if (u.groups <= 0 || u.k % u.groups != 0) return false;
  const int64_t gs = u.k / u.groups;
  for (int64_t i = 0; i < u.k; ++i)
    if (u.group[static_cast<size_t>(i)] != i / gs) return false;
  return true;
}

namespace {

// The checks both integer forms share; fills scales [n][groups] (transposed from
// the checkpoint's [groups][n]) as f16 bits.
Status scales_as_f16(const UnpackedLinear& u, std::vector<uint16_t>* s16) {
  if (!has_contiguous_groups(u))
    return Status::Error("groups are permuted (act-order g_idx); kernels need contiguous groups");
  s16->resize(static_cast<size_t>(u.n * u.groups));
  for (int64_t g = 0; g < u.groups; ++g)
    for (int64_t j = 0; j < u.n; ++j) {
      const float s = u.scales[static_cast<size_t>(g * u.n + j)];
      const uint16_t h = f32_to_f16(s);
      if (!std::isfinite(s) || f16_to_f32(h) != s)
        return Status::Error("scale " + std::to_string(s) + " of output " + std::to_string(j) +
                             ", group " + std::to_string(g) + " is not an f16 value");
      (*s16)[static_cast<size_t>(j * u.groups + g)] = h;
    }
  return Status::Ok();
}

}  // namespace

Result<Int4ScaleMin> to_int4_scale_min(const UnpackedLinear& u) {
  if (u.bits != 4) return Status::Error(std::to_string(u.bits) + "-bit values are not 4-bit");
  Int4ScaleMin r;
  r.group = u.groups > 0 ? u.k / u.groups : 0;
  QS_RETURN_IF_ERROR(scales_as_f16(u, &r.s));
  r.m.resize(r.s.size());
  for (int64_t j = 0; j < u.n; ++j)
    for (int64_t g = 0; g < u.groups; ++g) {
      const size_t at = static_cast<size_t>(j * u.groups + g);
      const int32_t z = u.zeros[static_cast<size_t>(g * u.n + j)];
      // z has at most 5 bits and s 11: the product is exact in F32, one rounding to f16.
      const float m = -static_cast<float>(z) * f16_to_f32(r.s[at]);
      r.m[at] = f32_to_f16(m);
      if (!std::isfinite(f16_to_f32(r.m[at])))
        return Status::Error("-zero * scale = " + std::to_string(m) + " (output " +
                             std::to_string(j) + ", group " + std::to_string(g) +
                             ") is beyond the f16 range");
    }
  return r;
}

Result<std::vector<uint16_t>> to_int8_scales(const UnpackedLinear& u) {
  if (u.bits != 8) return Status::Error(std::to_string(u.bits) + "-bit values are not 8-bit");
  if (u.groups <= 0 || (u.k / u.groups) % 32 != 0)
    return Status::Error("group size " + std::to_string(u.groups > 0 ? u.k / u.groups : 0) +
                         " is not a multiple of the 32-value block");
  std::vector<uint16_t> s16;
  QS_RETURN_IF_ERROR(scales_as_f16(u, &s16));
  const int64_t gs = u.k / u.groups;
  for (int64_t j = 0; j < u.n; ++j)
    for (int64_t i = 0; i < u.k; ++i) {
      const int32_t v = static_cast<int32_t>(u.q[static_cast<size_t>(j * u.k + i)]) -
                        u.zeros[static_cast<size_t>(i / gs * u.n + j)];
      if (v < -128 || v > 127)
        return Status::Error("q - zero = " + std::to_string(v) + " (output " + std::to_string(j) +
                             ", input " + std::to_string(i) +
                             ") is outside int8: asymmetric zeros");
    }
  return s16;
}

}  // namespace qs
