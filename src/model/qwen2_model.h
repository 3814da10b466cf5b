// Qwen2 causal LM: loads a Hugging Face model directory and runs
// forward(batch) on the CPU kernels. One forward call serves prefill, decode
// and chunked prefill of any number of sequences at once (see batch.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/hf_config.h"
#include "kernels/kernels.h"
#include "model/batch.h"
#include "model/kv_cache.h"
#include "model/qwen2_weights.h"
#include "model/weight_arena.h"

namespace qs {

class TensorStore;
class GgufFile;

// How matmuls treat activations. Both read BF16 weights and accumulate in F32.
// kBf16 also takes attention_lowp (q * scale rounded to BF16 for the scores).
enum class MatmulPrecision {
  kExact,  // F32 activations: matches the float32 reference to ~1e-5 (golden tests)
  kBf16,   // activations rounded to BF16, vdpbf16ps: ~2-3x faster prefill (default)
};

struct ModelOptions {
  int threads = 0;  // <= 0: all cores
  MatmulPrecision precision = MatmulPrecision::kBf16;
  // Quantize BF16/F16/F32 checkpoints at load: kQ8_0 (INT8) or kQ4 (INT4,
  // groups of quantize_group along k). kBF16: keep the checkpoint's weights.
  kernels::WeightFormat quantize = kernels::WeightFormat::kBF16;
  int quantize_group = 32;
  // Move the weight matrices into one region of 2 MB pages, copied in the
  // background after load (model/weight_arena.h); the model runs from the
  // mmapped checkpoint until the copy is done. Ignored where the kernel has
  // no transparent huge pages. false: weights stay where loading put them.
  bool huge_page_weights = true;
};

class Qwen2Model {
 public:
  // model_dir: a Hugging Face directory (config.json + safetensors) or a .gguf file.
  static Result<std::unique_ptr<Qwen2Model>> Load(const std::string& model_dir,
                                                  const ModelOptions& options);
  ~Qwen2Model();

  const Qwen2Config& config() const { return config_; }
  const Qwen2Weights& weights() const { return *weights_; }
  const std::string& dir() const { return dir_; }
  ThreadPool& pool() { return *pool_; }
  const kernels::KernelTable& kernels() const { return *k_; }

  // The KV cache shape this model needs for `num_blocks` blocks.
  KVCacheShape kv_shape(size_t num_blocks, size_t block_size, DType dtype) const;

  // Runs the batch; writes logits [batch.logits_rows.size()][vocab_size] F32.
  // Writes K/V of every token into its slot of `kv`. Invalid batches
  // (ids, positions or block tables out of range) return an error.
  Status forward(const Batch& batch, KVCache& kv, float* logits);

  // Waits for the background copy into 2 MB pages (if any) and switches to
  // it now rather than at the next forward (bench: measure one steady state).
  void settle_weight_memory();
  // Where the matrices are read from: "2 MB pages", "2 MB pages (copy in
  // progress)" or "4 KB pages (mmap / heap)".
  std::string weight_memory() const;
  double weight_copy_seconds() const;  // background copy time; 0 if none

 private:
  Qwen2Model() = default;
  Status validate(const Batch& batch, const KVCache& kv) const;
  void adopt_weight_arena();
  // x[r] = embedding row of ids[r], widened to F32.
  void embed(const int32_t* ids, size_t rows, float* x);
  // y[rows][w.rows] = x[rows][w.cols] W^T + bias, in W's format.
  void linear(const float* x, size_t rows, const kernels::WeightMatrix& w, const float* bias,
              float* y);

  std::string dir_;
  Qwen2Config config_;
  ModelOptions options_;
  std::unique_ptr<TensorStore> store_;
  std::unique_ptr<GgufFile> gguf_;  // when loaded from a .gguf file
  std::unique_ptr<Qwen2Weights> weights_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<WeightArena> arena_;  // while or after copying into 2 MB pages
  bool arena_adopted_ = false;
  const kernels::KernelTable* k_ = nullptr;
  std::vector<float> inv_freq_;  // [head_dim/2]
  float attn_scale_ = 0;         // softmax scale incl. any yarn attention factor

  // Workspace, grown on demand. T = tokens in the batch, R = logits rows.
  AlignedVec<float> x_, h_;                  // [T][H]
  AlignedVec<float> q_, k_buf_, v_;          // [T][nh*hd], [T][nkv*hd], [T][nkv*hd]
  AlignedVec<float> attn_;                   // [T][nh*hd]
  AlignedVec<float> gate_, up_;              // [T][I]
  AlignedVec<float> joined_;                 // [T][qd + 2 kvd] or [T][2 I]: fused outputs
  AlignedVec<float> rows_;                   // [R][H]
  std::vector<int64_t> slots_;               // [T]
  std::vector<kernels::AttnRow> attn_rows_;  // [T]
};

}  // namespace qs
