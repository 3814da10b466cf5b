#include "model/qwen2_weights.h"

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
      // GPTQ/AWQ layer: dequantized exactly to F32, then rounded to BF16 (for now the
      // only kernel format that represents (q - z) * f16 scale closely).
      QS_ASSIGN_OR_RETURN(auto ql, find_quantized_linear(store_, base, rows, cols, *quant_, dir_));
      std::vector<float> f(static_cast<size_t>(rows * cols));
      dequantize(unpack_linear(ql, *quant_), f.data());
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
  Result<const float*> vector(const std::string& name, int64_t n) {
    const TensorView* t = store_.find(name);
    QS_RETURN_IF_ERROR(check(t, name, {n}));
    return to_f32(*t, w_);
  }

 private:
  const TensorStore& store_;
  std::string dir_;
  WeightQuantization q_;
  Qwen2Weights* w_;
  const QuantConfig* quant_;  // GPTQ/AWQ checkpoint, or nullptr
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
  } else if (q.format == kernels::WeightFormat::kQ4) {
    const size_t g = static_cast<size_t>(q.group);
    QS_RETURN_IF_ERROR(qt::check_q4_shape(n, k, g));
    m.group = q.group;
    m.bytes = qt::q4_bytes(n, k, g);
    buf = aligned_alloc_array<uint8_t>(m.bytes);
    qt::pack_q4(
        n, k, g,
        [&](size_t j, uint8_t* qs, uint16_t* s, uint16_t* mn) {
          thread_local std::vector<float> f;
          f.resize(k);
          row(j, f.data());
          qt::quantize_row_q4(f.data(), k, g, qs, s, mn);
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
  return w;
}

}  // namespace qs
