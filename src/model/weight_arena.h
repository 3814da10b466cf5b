// Moves every weight matrix of a loaded model into one region of 2 MB pages
// (core/huge_pages.h), copying on a background thread so that loading stays
// an mmap: the model runs from the checkpoint's pages until the copy is done,
// then re-points its matrices at the next forward call (Qwen2Model).
//
// Why: decode streams ~1 GB of weights per token; through 4 KB pages of the
// mmapped file every 4 KB costs a TLB miss and restarts the hardware
// prefetcher, and every BF16 tensor of a safetensors file starts 56 bytes into
// a cache line. In the region each matrix starts on a 64-byte line and the
// pages are 2 MB. Measured on the 0.5B shape: decode batch 1 +15-25 %.
//
// What is copied: the byte ranges of all WeightMatrix views (embedding, head,
// every layer's matrices and their fused joins). Views that overlap (q/k/v
// inside qkv_proj, a tied head) are merged into one range first, so each byte
// is copied once and the views keep their relative placement. Ranges are laid
// out in the order the forward pass reads them (each on a 64-byte line), so a
// layer's q, k and v -- stored apart in a safetensors file -- end up back to
// back and Qwen2Model joins them into one matmul after the switch.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "core/huge_pages.h"
#include "model/qwen2_weights.h"

namespace qs {

class WeightArena {
 public:
  // Plans the copy of w's matrices, allocates the region and starts copying.
  // nullptr when there is nothing to move or no region could be had.
  static std::unique_ptr<WeightArena> Start(const Qwen2Weights& w);
  ~WeightArena();  // stops a copy still running
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  bool ready() const { return done_.load(std::memory_order_acquire); }
  void wait();  // until ready()

  // When ready: re-points w's matrices into the region and frees the owned
  // matrix buffers (w->owned_bf16, w->owned_bytes) they leave behind. The
  // caller must not run kernels on w meanwhile. w must be the weights Start
  // was given, unchanged since.
  void adopt(Qwen2Weights* w);

  size_t bytes() const { return bytes_; }          // bytes copied
  double copy_seconds() const { return copy_s_; }  // valid once ready()

 private:
  struct Range {
    const uint8_t* src;  // start in the current storage
    size_t bytes;
    size_t offset;  // start in the region (64-byte aligned)
  };
  WeightArena() = default;
  void copy();
  Range& range_of(const void* p);

  std::vector<Range> ranges_;  // sorted by src, disjoint
  HugePageRegion region_;
  size_t bytes_ = 0;
  double copy_s_ = 0;
  std::atomic<bool> done_{false};
  std::atomic<bool> cancel_{false};
  std::thread worker_;
};

// Every WeightMatrix view of w in the order the forward pass reads them (per
// layer: q, k, v, the qkv join, o, gate, up, the gate_up join, down; then the
// head and the embedding), unset ones included.
std::vector<kernels::WeightMatrix*> all_weight_matrices(Qwen2Weights* w);

}  // namespace qs
