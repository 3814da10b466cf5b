// Heap buffers aligned to 64 bytes (one cache line, one AVX-512 register).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace qs {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
using AlignedPtr = std::unique_ptr<T[], AlignedFree>;

// n elements of T, uninitialised, 64-byte aligned. n == 0 gives a valid empty buffer.
template <typename T>
AlignedPtr<T> aligned_alloc_array(size_t n) {
  size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  return AlignedPtr<T>(static_cast<T*>(p));
}

// A resizable aligned array of T (trivial types only); contents are not kept on growth.
template <typename T>
class AlignedVec {
 public:
  AlignedVec() = default;
  explicit AlignedVec(size_t n) { resize(n); }
  void resize(size_t n) {
    if (n > cap_) {
      p_ = aligned_alloc_array<T>(n);
      cap_ = n;
    }
    n_ = n;
  }
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }

 private:
  AlignedPtr<T> p_;
  size_t n_ = 0, cap_ = 0;
};

}  // namespace qs
