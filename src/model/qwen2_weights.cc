#include "model/qwen2_weights.h"

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/log.h"
#include "formats/gptq_awq.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "formats/tensor_check.h"
#include "kernels/quant.h"
#include "model/qwen2_layout.h"

namespace qs {
namespace {

// Widens a 1-D BF16/F16/F32 tensor to an owned F32 array.
const float* to_f32(const TensorView& t, Qwen2Weights* w) {
  const size_t n = static_cast<size_t>(t.numel());
  auto buf = aligned_alloc_array<float>(n);
  for (size_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DType::BF16:
        buf[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]);
        break;
      case DType::F16:
        buf[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]);
        break;
      default:
        buf[i] = reinterpret_cast<const float*>(t.data)[i];
        break;
    }
  }
  w->owned_f32.push_back(std::move(buf));
  return w->owned_f32.back().get();
}

// A BF16 matrix in place, or an owned BF16 copy of an F16/F32 one.
const uint16_t* to_bf16(const TensorView& t, Qwen2Weights* w) {
  if (t.dtype == DType::BF16) return reinterpret_cast<const uint16_t*>(t.data);
  const size_t n = static_cast<size_t>(t.numel());
  auto buf = aligned_alloc_array<uint16_t>(n);
  for (size_t i = 0; i < n; ++i) {
    float f = t.dtype == DType::F16 ? f16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i])
                                    : reinterpret_cast<const float*>(t.data)[i];
    buf[i] = f32_to_bf16(f);
  }
  w->owned_bf16.push_back(std::move(buf));
  return w->owned_bf16.back().get();
}

constexpr std::initializer_list<DType> kFloatTypes = {DType::BF16, DType::F16, DType::F32};

class Binder {
 public:
  Binder(const TensorStore& store, std::string dir, Qwen2Weights* w, const QuantConfig* quant,
         const WeightQuantization& q)
      : store_(store), dir_(std::move(dir)), q_(q), w_(w), quant_(quant) {}

  // A missing tensor has no file to name: say which directory lacks it.
  Status check(const TensorView* t, const std::string& name, std::initializer_list<int64_t> shape) {
    if (t == nullptr) return Status::Error(dir_ + ": missing tensor '" + name + "'");
    return check_tensor(t, name, shape, kFloatTypes);
  }
  Result<kernels::WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorView* t = store_.find(name);
    const std::string base = name.substr(0, name.size() - 7);  // without ".weight"
    const uint16_t* data = nullptr;
    if (quant_ != nullptr && store_.find(base + ".qweight") != nullptr) {
      // GPTQ/AWQ layer: repacked as it is (4-bit -> kQ4, 8-bit -> kQ8_0, no
      // requantization); where the kernels cannot hold it (act-order groups,
      // asymmetric 8-bit, ...) dequantized exactly to F32 and rounded to BF16.
      QS_ASSIGN_OR_RETURN(auto ql, find_quantized_linear(store_, base, rows, cols, *quant_, dir_));
      const UnpackedLinear u = unpack_linear(ql, *quant_);
      auto native = pack_native(u);
      if (native.ok()) {
        ++native_layers_;
        w_->matmul_weight_bytes += native.value().bytes;
        return native;
      }
      if (bf16_layers_++ == 0) first_reason_ = name + ": " + native.status().message();
      std::vector<float> f(static_cast<size_t>(rows * cols));
      dequantize(u, f.data());
      auto buf = aligned_alloc_array<uint16_t>(f.size());
      for (size_t i = 0; i < f.size(); ++i) buf[i] = f32_to_bf16(f[i]);
      w_->owned_bf16.push_back(std::move(buf));
      data = w_->owned_bf16.back().get();
    } else {
      QS_RETURN_IF_ERROR(check(t, name, {rows, cols}));
      data = to_bf16(*t, w_);
    }
    if (q_.format != kernels::WeightFormat::kBF16) {
      const size_t k = static_cast<size_t>(cols);
      auto packed = pack_weight_matrix(
          static_cast<size_t>(rows), k, q_,
          [&](size_t j, float* out) {
            for (size_t i = 0; i < k; ++i) out[i] = bf16_to_f32(data[j * k + i]);
          },
          w_);
      if (packed.ok()) {
        w_->matmul_weight_bytes += packed.value().bytes;
        return packed;
      }
      QS_LOG(Warn, name << ": kept as bf16 (" << packed.status().message() << ")");
    }
    kernels::WeightMatrix m;
    m.format = kernels::WeightFormat::kBF16;
    m.data = data;
    m.rows = rows;
    m.cols = cols;
    m.bytes = static_cast<size_t>(rows * cols) * 2;
    w_->matmul_weight_bytes += m.bytes;
    return m;
  }
  // One line per model for the GPTQ/AWQ layers: how many run in their own INT4/INT8 form.
  void log_quantized_layers() const {
    if (quant_ == nullptr) return;
    if (bf16_layers_ == 0) {
      QS_LOG(Info, dir_ << ": " << native_layers_ << " GPTQ/AWQ layers repacked as "
                        << (quant_->bits == 4 ? "q4" : "q8_0"));
    } else {
      QS_LOG(Info, dir_ << ": " << bf16_layers_ << " GPTQ/AWQ layers dequantized to bf16 ("
                        << first_reason_ << (bf16_layers_ > 1 ? "; ..." : "") << "), "
                        << native_layers_ << " repacked");
    }
  }
  Result<const float*> vector(const std::string& name, int64_t n) {
    const TensorView* t = store_.find(name);
    QS_RETURN_IF_ERROR(check(t, name, {n}));
    return to_f32(*t, w_);
  }

 private:
  // A GPTQ/AWQ layer in the kernel format of its own integers: 4-bit -> kQ4 with
  // the checkpoint's group, s = scale, m = f16(-z s); 8-bit -> kQ8_0 with
  // int8 q - z and each 32-block's d = its group's scale (exact). The
  // --quantize option does not apply: requantizing them would only lose.
  Result<kernels::WeightMatrix> pack_native(const UnpackedLinear& u) {
    namespace qt = kernels::quant;
    const size_t n = static_cast<size_t>(u.n), k = static_cast<size_t>(u.k);
    const size_t G = static_cast<size_t>(u.groups), gs = k / G;
    kernels::WeightMatrix m;
    m.rows = u.n;
    m.cols = u.k;
    AlignedPtr<uint8_t> buf;
    if (u.bits == 4) {
      QS_ASSIGN_OR_RETURN(Int4ScaleMin f, to_int4_scale_min(u));
      QS_RETURN_IF_ERROR(qt::check_q4_shape(n, k, gs));
      m.format = kernels::WeightFormat::kQ4;
      m.group = static_cast<int32_t>(gs);
      m.bytes = qt::q4_bytes(n, k, gs);
      buf = aligned_alloc_array<uint8_t>(m.bytes);
      qt::pack_q4(
          n, k, gs,
          [&](size_t j, uint8_t* q, uint16_t* s, uint16_t* mn) {
            std::memcpy(q, &u.q[j * k], k);
            std::memcpy(s, &f.s[j * G], G * 2);
            std::memcpy(mn, &f.m[j * G], G * 2);
          },
          buf.get(), q_.pool);
    } else {
      QS_ASSIGN_OR_RETURN(std::vector<uint16_t> d, to_int8_scales(u));
      QS_RETURN_IF_ERROR(qt::check_q8_0_shape(n, k));
      m.format = kernels::WeightFormat::kQ8_0;
      m.bytes = qt::q8_0_bytes(n, k);
      buf = aligned_alloc_array<uint8_t>(m.bytes);
      qt::pack_q8_0(
          n, k,
          [&](size_t j, qt::BlockQ8_0* b) {
            for (size_t blk = 0; blk < k / qt::kBlock; ++blk) {
              const size_t g = blk * qt::kBlock / gs;
              const int32_t z = u.zeros[g * n + j];
              b[blk].d = d[j * G + g];
              for (size_t t = 0; t < qt::kBlock; ++t)  // in [-128, 127]: checked
                b[blk].qs[t] = static_cast<int8_t>(u.q[j * k + blk * qt::kBlock + t] - z);
            }
          },
          buf.get(), q_.pool);
    }
    m.data = buf.get();
    w_->owned_bytes.push_back(std::move(buf));
    return m;
  }

  const TensorStore& store_;
  std::string dir_;
  WeightQuantization q_;
  Qwen2Weights* w_;
  const QuantConfig* quant_;  // GPTQ/AWQ checkpoint, or nullptr
  int native_layers_ = 0, bf16_layers_ = 0;
  std::string first_reason_;  // why the first bf16 layer could not be repacked
};

}  // namespace

Result<kernels::WeightMatrix> pack_weight_matrix(
    size_t n, size_t k, const WeightQuantization& q,
    const std::function<void(size_t row, float* out)>& row, Qwen2Weights* w) {
  namespace qt = kernels::quant;
  kernels::WeightMatrix m;
  m.format = q.format;
  m.rows = static_cast<int64_t>(n);
  m.cols = static_cast<int64_t>(k);
  AlignedPtr<uint8_t> buf;
  if (q.format == kernels::WeightFormat::kQ8_0) {
    QS_RETURN_IF_ERROR(qt::check_q8_0_shape(n, k));
    m.bytes = qt::q8_0_bytes(n, k);
    buf = aligned_alloc_array<uint8_t>(m.bytes);
    qt::pack_q8_0(
        n, k,
        [&](size_t j, qt::BlockQ8_0* blocks) {
          thread_local std::vector<float> f;
          f.resize(k);
          row(j, f.data());
          qt::quantize_row_q8_0(f.data(), k, blocks);
        },
        buf.get(), q.pool);
  } else if (q.format == kernels::WeightFormat::kQ4 || q.format == kernels::WeightFormat::kQ5) {
    const bool five = q.format == kernels::WeightFormat::kQ5;
    const size_t g = static_cast<size_t>(q.group);
    QS_RETURN_IF_ERROR(qt::check_qn_shape(n, k, g, five));
    m.group = q.group;
    m.bytes = qt::qn_bytes(n, k, g, five);
    buf = aligned_alloc_array<uint8_t>(m.bytes);
    qt::pack_qn(
        n, k, g, five,
        [&](size_t j, uint8_t* qs, uint16_t* s, uint16_t* mn) {
          thread_local std::vector<float> f;
          f.resize(k);
          row(j, f.data());
          (five ? qt::quantize_row_q5 : qt::quantize_row_q4)(f.data(), k, g, qs, s, mn);
        },
        buf.get(), q.pool);
  } else {
    return Status::Error("pack_weight_matrix: not a quantized format");
  }
  m.data = buf.get();
  w->owned_bytes.push_back(std::move(buf));
  return m;
}

Result<std::unique_ptr<Qwen2Weights>> bind_qwen2_weights(const TensorStore& store,
                                                         const Qwen2Config& c,
                                                         const std::string& dir,
                                                         const WeightQuantization& wq) {
  auto w = std::make_unique<Qwen2Weights>();
  std::optional<QuantConfig> quant;
  if (!c.quantization_config.empty()) {
    QS_ASSIGN_OR_RETURN(quant, parse_quant_config(c.quantization_config, dir + "/config.json"));
  }
  Binder b(store, dir, w.get(), quant ? &*quant : nullptr, wq);
  QS_RETURN_IF_ERROR(bind_qwen2_layout(
      b, c, c.tie_word_embeddings && store.find("lm_head.weight") == nullptr, w.get()));
  b.log_quantized_layers();
  return w;
}

}  // namespace qs
