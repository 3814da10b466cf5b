// Memory in 2 MB pages (Linux transparent huge pages, asked for with
// madvise). Weight streams read through 4 KB pages pay a TLB miss every 64
// lines and lose the hardware prefetcher at every page edge: on this machine
// kind the decode GEMVs read ~20 % faster from 2 MB pages (see
// docs/ARCHITECTURE.md, "weight memory").
#pragma once

#include <cstddef>
#include <cstdint>

namespace qs {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// True when the kernel hands out transparent huge pages to a region that asks
// for them (/sys/kernel/mm/transparent_hugepage/enabled is "always" or
// "madvise"). False elsewhere (no THP, other OS): callers keep 4 KB pages.
bool huge_pages_available();

// An anonymous read-write region, 2 MB aligned, sized up to whole 2 MB pages,
// with MADV_HUGEPAGE applied. Pages are allocated on first touch.
class HugePageRegion {
 public:
  HugePageRegion() = default;
  ~HugePageRegion();
  HugePageRegion(HugePageRegion&& o) noexcept;
  HugePageRegion& operator=(HugePageRegion&& o) noexcept;
  HugePageRegion(const HugePageRegion&) = delete;
  HugePageRegion& operator=(const HugePageRegion&) = delete;

  // Empty region on failure (out of address space); bytes == 0 gives an empty region.
  static HugePageRegion Allocate(size_t bytes);

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }  // usable bytes (a multiple of 2 MB)
  bool empty() const { return data_ == nullptr; }
  // Makes the region read-only: stray writes into weights fault instead of
  // silently changing the model.
  void protect_read_only();

 private:
  void release();
  void* map_ = nullptr;  // what mmap returned (the aligned start is inside)
  size_t map_bytes_ = 0;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace qs
