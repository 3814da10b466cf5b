#include "model/weight_arena.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace qs {

namespace {
constexpr size_t kLine = 64;
constexpr size_t kCopyChunk = size_t{4} << 20;  // cancel is checked between chunks
}  // namespace

std::vector<kernels::WeightMatrix*> all_weight_matrices(Qwen2Weights* w) {
  std::vector<kernels::WeightMatrix*> out;
  for (auto& l : w->layers) {
    for (kernels::WeightMatrix* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.qkv_proj, &l.o_proj,
                                     &l.gate_proj, &l.up_proj, &l.gate_up_proj, &l.down_proj})
      out.push_back(m);
  }
  out.push_back(&w->lm_head);
  out.push_back(&w->embed);
  return out;
}

std::unique_ptr<WeightArena> WeightArena::Start(const Qwen2Weights& weights) {
  // all_weight_matrices only reads through the pointers here.
  auto views = all_weight_matrices(const_cast<Qwen2Weights*>(&weights));
  std::vector<std::pair<const uint8_t*, size_t>> spans;
  for (const kernels::WeightMatrix* m : views)
    if (m->data != nullptr && m->bytes > 0)
      spans.emplace_back(static_cast<const uint8_t*>(m->data), m->bytes);
  if (spans.empty()) return nullptr;
  std::sort(spans.begin(), spans.end());
  std::unique_ptr<WeightArena> a(new WeightArena());
  for (const auto& [p, n] : spans) {
    if (!a->ranges_.empty()) {
      Range& last = a->ranges_.back();
      // Overlapping (views inside a join, a tied head): one range. Merely
      // touching ranges stay apart, free to be placed in forward order.
      if (p < last.src + last.bytes) {
        last.bytes = std::max(last.bytes, static_cast<size_t>(p + n - last.src));
        continue;
      }
    }
    a->ranges_.push_back(Range{p, n, 0});
  }
  // Placement in the order the forward pass reads the views (a layer's q, k,
  // v, o, gate, up, down, ..., the head): q|k|v and gate|up end up back to
  // back whatever order the checkpoint stored them in, and decode reads the
  // region front to back.
  constexpr size_t kUnplaced = ~size_t{0};
  for (Range& r : a->ranges_) r.offset = kUnplaced;
  size_t offset = 0;
  for (const kernels::WeightMatrix* m : views) {
    if (m->data == nullptr || m->bytes == 0) continue;
    Range& r = a->range_of(m->data);
    if (r.offset != kUnplaced) continue;
    r.offset = offset;
    offset = (offset + r.bytes + kLine - 1) / kLine * kLine;
  }
  a->bytes_ = offset;
  a->region_ = HugePageRegion::Allocate(offset);
  if (a->region_.empty()) return nullptr;
  a->worker_ = std::thread([p = a.get()] { p->copy(); });
  return a;
}

WeightArena::~WeightArena() {
  cancel_.store(true, std::memory_order_relaxed);
  if (worker_.joinable()) worker_.join();
}

void WeightArena::copy() {
  const auto t0 = std::chrono::steady_clock::now();
  for (const Range& r : ranges_) {
    for (size_t done = 0; done < r.bytes; done += kCopyChunk) {
      if (cancel_.load(std::memory_order_relaxed)) {
        done_.store(true, std::memory_order_release);
        return;
      }
      std::memcpy(region_.data() + r.offset + done, r.src + done,
                  std::min(kCopyChunk, r.bytes - done));
    }
  }
  region_.protect_read_only();
  copy_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  done_.store(true, std::memory_order_release);
}

void WeightArena::wait() {
  if (worker_.joinable()) worker_.join();
}

WeightArena::Range& WeightArena::range_of(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  // Last range starting at or before b; Start put every view inside one.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), b,
                             [](const uint8_t* x, const Range& r) { return x < r.src; });
  return *(it - 1);
}

void WeightArena::adopt(Qwen2Weights* w) {
  wait();
  if (cancel_.load(std::memory_order_relaxed)) return;  // copy incomplete: keep the old storage
  for (kernels::WeightMatrix* m : all_weight_matrices(w)) {
    if (m->data == nullptr || m->bytes == 0) continue;
    const Range& r = range_of(m->data);
    m->data = region_.data() + r.offset + (static_cast<const uint8_t*>(m->data) - r.src);
  }
  // Every owned matrix buffer was copied (or was already unused): free them.
  w->owned_bf16.clear();
  w->owned_bytes.clear();
}

}  // namespace qs
