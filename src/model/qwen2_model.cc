#include "model/qwen2_model.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/log.h"
#include "formats/gguf.h"
#include "formats/gguf_qwen2.h"
#include "formats/safetensors.h"
#include "kernels/quant.h"
#include "model/fused_weights.h"

namespace qs {

Qwen2Model::~Qwen2Model() = default;

Result<std::unique_ptr<Qwen2Model>> Qwen2Model::Load(const std::string& model_dir,
                                                     const ModelOptions& options) {
  std::unique_ptr<Qwen2Model> m(new Qwen2Model());
  m->dir_ = model_dir;
  m->options_ = options;
  const bool gguf = model_dir.size() > 5 && model_dir.substr(model_dir.size() - 5) == ".gguf";
  if (gguf) {
    QS_ASSIGN_OR_RETURN(m->gguf_, GgufFile::Open(model_dir));
    QS_ASSIGN_OR_RETURN(m->config_, qwen2_config_from_gguf(*m->gguf_));
  } else {
    QS_ASSIGN_OR_RETURN(m->config_, load_qwen2_config(model_dir + "/config.json"));
  }
  const Qwen2Config& c = m->config_;
  if (c.use_sliding_window)
    return Status::Error(model_dir + "/config.json: use_sliding_window=true is not supported");
  m->pool_ = std::make_unique<ThreadPool>(options.threads);
  WeightQuantization wq;
  wq.format = options.quantize;
  wq.group = options.quantize_group;
  wq.pool = m->pool_.get();
  if (gguf) {
    QS_ASSIGN_OR_RETURN(m->weights_, bind_qwen2_weights_gguf(*m->gguf_, c, wq));
  } else {
    QS_ASSIGN_OR_RETURN(m->store_, TensorStore::OpenDir(model_dir));
    QS_ASSIGN_OR_RETURN(m->weights_, bind_qwen2_weights(*m->store_, c, model_dir, wq));
    // Quantized at load: every matrix now lives in owned packed buffers (a
    // shape the format cannot hold stays BF16 and simply faults back in), so
    // the checkpoint's pages read while packing need not stay resident.
    if (wq.format != kernels::WeightFormat::kBF16) m->store_->drop_resident_pages();
  }
#if defined(__GLIBC__)
  // Packing, then joining packed matrices (fused_weights.h), frees large
  // buffers in the middle of the heap; hand those pages back (INT8: RSS
  // 0.62 -> 0.54 GB on the 0.5B shape).
  malloc_trim(0);
#endif
  QS_ASSIGN_OR_RETURN(RopeInit rope, compute_rope_init(c));
  m->inv_freq_ = rope.inv_freq;
  // Yarn scales cos and sin by attention_factor; q.k is bilinear in both, so
  // scaling the softmax by factor^2 is the same thing.
  m->attn_scale_ = static_cast<float>(rope.attention_scaling * rope.attention_scaling /
                                      std::sqrt(static_cast<double>(c.head_dim)));
  m->k_ = &kernels::get();
  if (options.huge_page_weights && huge_pages_available())
    m->arena_ = WeightArena::Start(*m->weights_);
  QS_LOG(Debug, "loaded " << model_dir << ": " << c.num_hidden_layers << " layers, kernels "
                          << m->k_->name << ", " << m->pool_->num_threads() << " threads");
  return m;
}

KVCacheShape Qwen2Model::kv_shape(size_t num_blocks, size_t block_size, DType dtype) const {
  KVCacheShape s;
  s.num_layers = config_.num_hidden_layers;
  s.num_blocks = num_blocks;
  s.block_size = block_size;
  s.num_kv_heads = config_.num_key_value_heads;
  s.head_dim = config_.head_dim;
  s.dtype = dtype;
  return s;
}

Status Qwen2Model::validate(const Batch& b, const KVCache& kv) const {
  const size_t T = b.num_tokens();
  if (b.positions.size() != T || b.seq.size() != T)
    return Status::Error("batch: tokens, positions and seq differ in length");
  const KVCacheShape& ks = kv.shape();
  if (ks.num_layers != static_cast<size_t>(config_.num_hidden_layers) ||
      ks.num_kv_heads != static_cast<size_t>(config_.num_key_value_heads) ||
      ks.head_dim != static_cast<size_t>(config_.head_dim))
    return Status::Error("batch: KV cache shape does not match the model");
  for (size_t t = 0; t < T; ++t) {
    if (b.tokens[t] < 0 || b.tokens[t] >= config_.vocab_size)
      return Status::Error("batch: token id " + std::to_string(b.tokens[t]) + " out of range [0, " +
                           std::to_string(config_.vocab_size) + ")");
    if (b.seq[t] < 0 || static_cast<size_t>(b.seq[t]) >= b.block_tables.size())
      return Status::Error("batch: row " + std::to_string(t) + " names no sequence");
    const int32_t p = b.positions[t];
    const auto& table = b.block_tables[b.seq[t]];
    if (p < 0 || static_cast<size_t>(p) / ks.block_size >= table.size())
      return Status::Error("batch: position " + std::to_string(p) +
                           " is not covered by its block table");
    if (p >= config_.max_position_embeddings)
      return Status::Error("batch: position " + std::to_string(p) +
                           " exceeds max_position_embeddings " +
                           std::to_string(config_.max_position_embeddings));
    for (size_t i = 0; i <= static_cast<size_t>(p) / ks.block_size; ++i)
      if (table[i] < 0 || static_cast<size_t>(table[i]) >= ks.num_blocks)
        return Status::Error("batch: block id " + std::to_string(table[i]) + " out of range");
  }
  for (int32_t r : b.logits_rows)
    if (r < 0 || static_cast<size_t>(r) >= T)
      return Status::Error("batch: logits row " + std::to_string(r) + " out of range");
  return Status::Ok();
}

void Qwen2Model::embed(const int32_t* ids, size_t rows, float* x) {
  const kernels::WeightMatrix& e = weights_->embed;
  switch (e.format) {
    case kernels::WeightFormat::kBF16:
      k_->embedding_bf16(static_cast<const uint16_t*>(e.data), static_cast<size_t>(e.cols), ids,
                         rows, x);
      return;
    case kernels::WeightFormat::kQ8_0:
    case kernels::WeightFormat::kQ4:
    case kernels::WeightFormat::kQ5:
      // A gather of a few rows per token: the scalar dequantizer is enough.
      for (size_t r = 0; r < rows; ++r)
        kernels::quant::dequant_row(e, static_cast<size_t>(ids[r]), x + r * e.cols);
      return;
  }
}

void Qwen2Model::linear(const float* x, size_t rows, const kernels::WeightMatrix& w,
                        const float* bias, float* y) {
  const size_t n = static_cast<size_t>(w.rows), k = static_cast<size_t>(w.cols);
  switch (w.format) {
    case kernels::WeightFormat::kBF16: {
      auto fn =
          options_.precision == MatmulPrecision::kExact ? k_->matmul_bf16 : k_->matmul_bf16_lowp;
      fn(x, rows, k, static_cast<const uint16_t*>(w.data), n, bias, y, pool_.get());
      return;
    }
    case kernels::WeightFormat::kQ8_0:
      k_->matmul_q8_0(x, rows, k, w.data, n, bias, y, pool_.get());
      return;
    case kernels::WeightFormat::kQ4:
      k_->matmul_q4(x, rows, k, w.data, n, static_cast<size_t>(w.group), bias, y, pool_.get());
      return;
    case kernels::WeightFormat::kQ5:
      k_->matmul_q5(x, rows, k, w.data, n, static_cast<size_t>(w.group), bias, y, pool_.get());
      return;
  }
}

void Qwen2Model::adopt_weight_arena() {
  arena_->adopt(weights_.get());
  arena_adopted_ = true;
  // The arena lays matrices out in forward-pass order, each on a line: a
  // BF16 layer's q, k and v (apart in the file, so not joined at load) now
  // lie back to back and join for free (fused_weights.h).
  const size_t qd = static_cast<size_t>(config_.num_attention_heads * config_.head_dim);
  const size_t kvd = static_cast<size_t>(config_.num_key_value_heads * config_.head_dim);
  for (Qwen2LayerWeights& L : weights_->layers)
    if (L.qkv_proj.data == nullptr) join_qkv(&L, qd, kvd, weights_.get());
  // Nothing reads the checkpoint's pages any more (a view the arena did not
  // cover would fault them back in from the page cache): out of RSS.
  if (store_) store_->drop_resident_pages();
  if (gguf_) gguf_->drop_resident_pages();
#if defined(__GLIBC__)
  malloc_trim(0);  // the owned matrix buffers just freed
#endif
  QS_LOG(Info, "weights now read from 2 MB pages ("
                   << arena_->bytes() / (1 << 20) << " MiB copied in the background in "
                   << static_cast<int>(arena_->copy_seconds() * 1e3) << " ms)");
}

void Qwen2Model::settle_weight_memory() {
  if (arena_ && !arena_adopted_) {
    arena_->wait();
    adopt_weight_arena();
  }
}

std::string Qwen2Model::weight_memory() const {
  if (arena_) return arena_adopted_ ? "2 MB pages" : "2 MB pages (copy in progress)";
  return "4 KB pages (mmap / heap)";
}

double Qwen2Model::weight_copy_seconds() const {
  return arena_ && arena_adopted_ ? arena_->copy_seconds() : 0.0;
}

Status Qwen2Model::forward(const Batch& b, KVCache& kv, float* logits) {
  QS_RETURN_IF_ERROR(validate(b, kv));
  // The background copy into 2 MB pages is done: switch (between two forward
  // calls no kernel is reading the weights).
  if (arena_ && !arena_adopted_ && arena_->ready()) adopt_weight_arena();
  const Qwen2Config& c = config_;
  const size_t T = b.num_tokens();
  if (T == 0) return Status::Ok();
  const size_t H = c.hidden_size, I = c.intermediate_size;
  const size_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  const size_t qd = nh * hd, kvd = nkv * hd;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const size_t bs = kv.shape().block_size;

  x_.resize(T * H);
  h_.resize(T * H);
  q_.resize(T * qd);
  k_buf_.resize(T * kvd);
  v_.resize(T * kvd);
  attn_.resize(T * qd);
  gate_.resize(T * I);
  up_.resize(T * I);
  slots_.resize(T);
  attn_rows_.resize(T);
  for (size_t t = 0; t < T; ++t) {
    const auto& table = b.block_tables[b.seq[t]];
    const int32_t p = b.positions[t];
    slots_[t] = static_cast<int64_t>(table[p / bs]) * static_cast<int64_t>(bs) + p % bs;
    attn_rows_[t].block_table = table.data();
    attn_rows_[t].context_len = p + 1;
  }

  embed(b.tokens.data(), T, x_.data());
  for (size_t l = 0; l < static_cast<size_t>(c.num_hidden_layers); ++l) {
    const Qwen2LayerWeights& w = weights_->layers[l];
    const kernels::PagedKV layer_kv = kv.layer(l);
    // Attention block: x += o_proj(attn(rope(q), rope(k), v)) of rmsnorm(x).
    k_->rmsnorm(x_.data(), w.input_norm, T, H, eps, h_.data());
    float *q = q_.data(), *k = k_buf_.data(), *v = v_.data();
    if (w.qkv_proj.data != nullptr) {
      // One matmul for q|k|v; one token's row is used in place, a batch's
      // rows are split into the contiguous [T][width] arrays the ops take.
      const size_t width = qd + 2 * kvd;
      joined_.resize(T * width);
      linear(h_.data(), T, w.qkv_proj, w.qkv_bias, joined_.data());
      if (T == 1) {
        q = joined_.data(), k = q + qd, v = k + kvd;
      } else {
        for (size_t t = 0; t < T; ++t) {
          const float* row = joined_.data() + t * width;
          std::copy_n(row, qd, q + t * qd);
          std::copy_n(row + qd, kvd, k + t * kvd);
          std::copy_n(row + qd + kvd, kvd, v + t * kvd);
        }
      }
    } else {
      linear(h_.data(), T, w.q_proj, w.q_bias, q);
      linear(h_.data(), T, w.k_proj, w.k_bias, k);
      linear(h_.data(), T, w.v_proj, w.v_bias, v);
    }
    k_->rope(q, T, qd, nh, hd, b.positions.data(), inv_freq_.data());
    k_->rope(k, T, kvd, nkv, hd, b.positions.data(), inv_freq_.data());
    k_->kv_store(k, v, T, kvd, slots_.data(), layer_kv);
    const auto attention =
        options_.precision == MatmulPrecision::kExact ? k_->attention : k_->attention_lowp;
    attention(q, T, qd, nh, attn_rows_.data(), layer_kv, attn_scale_, attn_.data(), pool_.get());
    linear(attn_.data(), T, w.o_proj, nullptr, h_.data());
    k_->add(x_.data(), h_.data(), T * H);
    // MLP block: x += down(silu(gate(h)) * up(h)), h = rmsnorm(x).
    k_->rmsnorm(x_.data(), w.post_attn_norm, T, H, eps, h_.data());
    if (w.gate_up_proj.data != nullptr) {
      joined_.resize(T * 2 * I);
      linear(h_.data(), T, w.gate_up_proj, nullptr, joined_.data());
      // Row t: [gate | up]. A prefill's rows are split over the pool (one
      // thread was ~6 % of a 512-token INT8 prefill); a few rows stay serial.
      const auto silu_rows = [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) {
          const float* row = joined_.data() + t * 2 * I;
          k_->silu_mul(row, row + I, gate_.data() + t * I, I);
        }
      };
      if (T >= 8)
        pool_->parallel_chunks(T, 4, silu_rows);
      else
        silu_rows(0, T);
    } else {
      linear(h_.data(), T, w.gate_proj, nullptr, gate_.data());
      linear(h_.data(), T, w.up_proj, nullptr, up_.data());
      k_->silu_mul(gate_.data(), up_.data(), gate_.data(), T * I);
    }
    linear(gate_.data(), T, w.down_proj, nullptr, h_.data());
    k_->add(x_.data(), h_.data(), T * H);
  }

  // Logits only for the rows asked for: gather, final norm, lm_head.
  const size_t R = b.logits_rows.size();
  if (R == 0) return Status::Ok();
  rows_.resize(R * H);
  for (size_t r = 0; r < R; ++r)
    std::copy_n(x_.data() + static_cast<size_t>(b.logits_rows[r]) * H, H, rows_.data() + r * H);
  k_->rmsnorm(rows_.data(), weights_->final_norm, R, H, eps, rows_.data());
  linear(rows_.data(), R, weights_->lm_head, nullptr, logits);
  return Status::Ok();
}

}  // namespace qs
