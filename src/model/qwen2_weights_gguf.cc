// Qwen2 weights from a GGUF file. Q8_0 and IQ4_NL are repacked into kQ8_0
// exactly (same d; IQ4_NL's code book entries as codes); Q4_0 / Q4_1 into kQ4
// and Q5_0 / Q5_1 into kQ5 (groups of 32) exactly, Q4_K / Q5_K too with their
// 6-bit sub-block scales and mins rounded to f16 s and m; Q2_K, Q3_K and Q6_K
// (no exact home) are dequantized and requantized to Q8_0. F32/F16/BF16
// matrices stay BF16 or follow --quantize. Norms and biases are widened to F32.
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/gguf.h"
#include "formats/gguf_qwen2.h"
#include "formats/hf_config.h"
#include "kernels/quant.h"
#include "model/qwen2_weights.h"

#include "model/qwen2_layout.h"

namespace qs {
namespace {

namespace qt = kernels::quant;

float float_at(const GgufTensor& t, size_t e) {
  uint16_t h;
  switch (t.type) {
    case GgmlType::kF16:
      std::memcpy(&h, t.data + e * 2, 2);
      return f16_to_f32(h);
    case GgmlType::kBF16:
      std::memcpy(&h, t.data + e * 2, 2);
      return bf16_to_f32(h);
    default: {
      float f;
      std::memcpy(&f, t.data + e * 4, 4);
      return f;
    }
  }
}

bool is_float(GgmlType t) {
  return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16;
}

class GgufBinder {
 public:
  GgufBinder(const GgufFile& f, const WeightQuantization& q, Qwen2Weights* w)
      : f_(f), q_(q), w_(w) {}

  Result<const GgufTensor*> find(const std::string& hf, std::vector<uint64_t> ne) {
    const std::string name = gguf_tensor_name(hf);
    const GgufTensor* t = f_.find(name);
    if (t == nullptr) return Status::Error(f_.path() + ": missing tensor '" + name + "'");
    if (t->ne != ne) {
      std::string got, want;
      for (auto d : t->ne) got += std::to_string(d) + " ";
      for (auto d : ne) want += std::to_string(d) + " ";
      return Status::Error(f_.path() + ": tensor '" + name + "' has shape [ " + got +
                           "], expected [ " + want + "] (innermost first)");
    }
    return t;
  }

  Result<kernels::WeightMatrix> matrix(const std::string& hf, int64_t rows, int64_t cols) {
    QS_ASSIGN_OR_RETURN(const GgufTensor* t,
                        find(hf, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}));
    const size_t n = static_cast<size_t>(rows), k = static_cast<size_t>(cols);
    QS_ASSIGN_OR_RETURN(kernels::WeightMatrix m, convert(*t, n, k));
    w_->matmul_weight_bytes += m.bytes;
    return m;
  }

  Result<const float*> vector(const std::string& hf, int64_t n) {
    QS_ASSIGN_OR_RETURN(const GgufTensor* t, find(hf, {static_cast<uint64_t>(n)}));
    if (!is_float(t->type))
      return Status::Error(f_.path() + ": tensor '" + t->name + "' must be F32/F16/BF16, is " +
                           ggml_type_name(t->type));
    auto buf = aligned_alloc_array<float>(static_cast<size_t>(n));
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) buf[i] = float_at(*t, i);
    w_->owned_f32.push_back(std::move(buf));
    return w_->owned_f32.back().get();
  }

 private:
  Result<kernels::WeightMatrix> owned(kernels::WeightFormat fmt, size_t n, size_t k, int group,
                                      size_t bytes, AlignedPtr<uint8_t> buf) {
    kernels::WeightMatrix m;
    m.format = fmt;
    m.rows = static_cast<int64_t>(n);
    m.cols = static_cast<int64_t>(k);
    m.bytes = bytes;
    m.group = group;
    m.data = buf.get();
    w_->owned_bytes.push_back(std::move(buf));
    return m;
  }

  Result<kernels::WeightMatrix> convert(const GgufTensor& t, size_t n, size_t k) {
    const std::string where = f_.path() + ": tensor '" + t.name + "'";
    if (is_float(t.type)) {
      if (q_.format != kernels::WeightFormat::kBF16) {
        auto m = pack_weight_matrix(
            n, k, q_,
            [&](size_t j, float* out) {
              for (size_t i = 0; i < k; ++i) out[i] = float_at(t, j * k + i);
            },
            w_);
        if (m.ok()) return m;
      }
      kernels::WeightMatrix m;
      m.rows = static_cast<int64_t>(n);
      m.cols = static_cast<int64_t>(k);
      m.bytes = n * k * 2;
      if (t.type == GgmlType::kBF16) {
        m.data = t.data;  // zero copy (GGUF data is 32-byte aligned)
      } else {
        auto buf = aligned_alloc_array<uint16_t>(n * k);
        for (size_t e = 0; e < n * k; ++e) buf[e] = f32_to_bf16(float_at(t, e));
        m.data = buf.get();
        w_->owned_bf16.push_back(std::move(buf));
      }
      return m;
    }
    const size_t nb = k / qt::kBlock;
    switch (t.type) {
      case GgmlType::kQ8_0:
      case GgmlType::kIQ4_NL:
      case GgmlType::kQ2_K:
      case GgmlType::kQ3_K:
      case GgmlType::kQ6_K: {
        QS_RETURN_IF_ERROR(qt::check_q8_0_shape(n, k));
        const size_t bytes = qt::q8_0_bytes(n, k);
        auto buf = aligned_alloc_array<uint8_t>(bytes);
        const GgmlType type = t.type;
        size_t be = 0, bb = 0;
        ggml_type_block(type, &be, &bb);
        const size_t row_bytes = k / be * bb;
        qt::pack_q8_0(
            n, k,
            [&](size_t j, qt::BlockQ8_0* b) {
              const uint8_t* row = t.data + j * row_bytes;
              if (!to_q8_0_exactly(type, row, nb, b)) {
                thread_local std::vector<float> f;
                f.resize(k);
                dequantize_row(type, row, k, f.data());
                qt::quantize_row_q8_0(f.data(), k, b);
              }
            },
            buf.get(), q_.pool);
        return owned(kernels::WeightFormat::kQ8_0, n, k, 0, bytes, std::move(buf));
      }
      case GgmlType::kQ4_0:
      case GgmlType::kQ4_1:
      case GgmlType::kQ4_K:
      case GgmlType::kQ5_0:
      case GgmlType::kQ5_1:
      case GgmlType::kQ5_K: {
        const GgmlType type = t.type;
        const bool five =
            type == GgmlType::kQ5_0 || type == GgmlType::kQ5_1 || type == GgmlType::kQ5_K;
        QS_RETURN_IF_ERROR(qt::check_qn_shape(n, k, 32, five));
        const size_t bytes = qt::qn_bytes(n, k, 32, five);
        auto buf = aligned_alloc_array<uint8_t>(bytes);
        size_t be = 0, bb = 0;
        ggml_type_block(type, &be, &bb);
        const size_t row_bytes = k / be * bb;
        qt::pack_qn(
            n, k, 32, five,
            [&](size_t j, uint8_t* q, uint16_t* s, uint16_t* m) {
              min_form_codes(type, t.data + j * row_bytes, k, q, s, m);
            },
            buf.get(), q_.pool);
        return owned(five ? kernels::WeightFormat::kQ5 : kernels::WeightFormat::kQ4, n, k, 32,
                     bytes, std::move(buf));
      }
      default:
        return Status::Error(where + ": type " + ggml_type_name(t.type) +
                             " is not supported for weight matrices");
    }
  }

  // Types whose values Q8_0 holds as they are (Q8_0, IQ4_NL): row of nb blocks.
  static bool to_q8_0_exactly(GgmlType type, const uint8_t* row, size_t nb, qt::BlockQ8_0* out) {
    switch (type) {
      case GgmlType::kQ8_0:
        std::memcpy(out, row, nb * sizeof(qt::BlockQ8_0));
        return true;
      case GgmlType::kIQ4_NL:
        qt::iq4_nl_to_q8_0(reinterpret_cast<const qt::BlockIQ4_NL*>(row), nb, out);
        return true;
      default:
        return false;
    }
  }

  // Row of k values of a block type that Q8_0 cannot hold exactly. (GGUF
  // tensors start 32-byte aligned and every row is an even number of bytes:
  // the blocks' 2-byte fields are aligned.)
  static void dequantize_row(GgmlType type, const uint8_t* row, size_t k, float* y) {
    switch (type) {
      case GgmlType::kQ2_K:
        return qt::dequantize_row_q2_k(reinterpret_cast<const qt::BlockQ2_K*>(row), k, y);
      case GgmlType::kQ3_K:
        return qt::dequantize_row_q3_k(reinterpret_cast<const qt::BlockQ3_K*>(row), k, y);
      case GgmlType::kQ6_K:
        return qt::dequantize_row_q6_k(reinterpret_cast<const qt::BlockQ6_K*>(row), k, y);
      default:
        return;
    }
  }

  // Row of k values of a min-form type as kQ4 / kQ5 codes (quant.h *_codes).
  static void min_form_codes(GgmlType type, const uint8_t* row, size_t k, uint8_t* q, uint16_t* s,
                             uint16_t* m) {
    switch (type) {
      case GgmlType::kQ4_0:
        return qt::q4_0_codes(reinterpret_cast<const qt::BlockQ4_0*>(row), k, q, s, m);
      case GgmlType::kQ4_1:
        return qt::q4_1_codes(reinterpret_cast<const qt::BlockQ4_1*>(row), k, q, s, m);
      case GgmlType::kQ4_K:
        return qt::q4_k_codes(reinterpret_cast<const qt::BlockQ4_K*>(row), k, q, s, m);
      case GgmlType::kQ5_0:
        return qt::q5_0_codes(reinterpret_cast<const qt::BlockQ5_0*>(row), k, q, s, m);
      case GgmlType::kQ5_1:
        return qt::q5_1_codes(reinterpret_cast<const qt::BlockQ5_1*>(row), k, q, s, m);
      case GgmlType::kQ5_K:
        return qt::q5_k_codes(reinterpret_cast<const qt::BlockQ5_K*>(row), k, q, s, m);
      default:
        return;
    }
  }

  const GgufFile& f_;
  WeightQuantization q_;
  Qwen2Weights* w_;
};

}  // namespace

Result<std::unique_ptr<Qwen2Weights>> bind_qwen2_weights_gguf(const GgufFile& f,
                                                              const Qwen2Config& c,
                                                              const WeightQuantization& wq) {
  auto w = std::make_unique<Qwen2Weights>();
  GgufBinder b(f, wq, w.get());
  QS_RETURN_IF_ERROR(bind_qwen2_layout(b, c, c.tie_word_embeddings, w.get()));
  return w;
}

}  // namespace qs
