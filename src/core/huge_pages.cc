#include "core/huge_pages.h"

#include <fstream>
#include <string>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace qs {

bool huge_pages_available() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!std::getline(in, line)) return false;
  // e.g. "always [madvise] never": the bracketed word is the current mode.
  return line.find("[always]") != std::string::npos || line.find("[madvise]") != std::string::npos;
#else
  return false;
#endif
}

HugePageRegion::~HugePageRegion() { release(); }

HugePageRegion::HugePageRegion(HugePageRegion&& o) noexcept { *this = std::move(o); }

HugePageRegion& HugePageRegion::operator=(HugePageRegion&& o) noexcept {
  if (this != &o) {
    release();
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

HugePageRegion HugePageRegion::Allocate(size_t bytes) {
  HugePageRegion r;
#if defined(__linux__)
  if (bytes == 0) return r;
  const size_t size = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  // One extra huge page of address space so the start can be aligned.
  const size_t map_bytes = size + kHugePageBytes;
  void* p = ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return r;
  const uintptr_t start =
      (reinterpret_cast<uintptr_t>(p) + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  r.map_ = p;
  r.map_bytes_ = map_bytes;
  r.data_ = reinterpret_cast<uint8_t*>(start);
  r.size_ = size;
#if defined(MADV_HUGEPAGE)
  ::madvise(r.data_, r.size_, MADV_HUGEPAGE);  // advisory: 4 KB pages if refused
#endif
#else
  (void)bytes;
#endif
  return r;
}

void HugePageRegion::protect_read_only() {
#if defined(__linux__)
  if (data_ != nullptr) ::mprotect(data_, size_, PROT_READ);
#endif
}

void HugePageRegion::release() {
#if defined(__linux__)
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
#endif
  map_ = nullptr;
  map_bytes_ = 0;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace qs
