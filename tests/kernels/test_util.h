// Helpers shared by the kernel tests: random data, sentinels, the SIMD tables.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace qs::kernels::testing {

inline std::vector<const KernelTable*> all_tables() {
  size_t n = 0;
  const KernelTable* const* t = available(&n);
  return std::vector<const KernelTable*>(t, t + n);
}

// Tables other than ref (what is compared against ref).
inline std::vector<const KernelTable*> simd_tables() {
  auto all = all_tables();
  return std::vector<const KernelTable*>(all.begin() + 1, all.end());
}

inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline std::vector<uint16_t> random_bf16(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = f32_to_bf16(d(rng));
  return v;
}

constexpr float kSentinel = -12345.678f;
constexpr size_t kGuard = 19;  // floats after every output

// An output buffer: `offset` floats of misalignment, then n values, then guards.
struct Out {
  std::vector<float> buf;
  size_t offset;
  Out(size_t n, size_t off) : buf(off + n + kGuard, kSentinel), offset(off) {}
  float* data() { return buf.data() + offset; }
  bool guards_ok(size_t n) const {
    for (size_t i = 0; i < offset; ++i)
      if (buf[i] != kSentinel) return false;
    for (size_t i = offset + n; i < buf.size(); ++i)
      if (buf[i] != kSentinel) return false;
    return true;
  }
};

// Copies v into a buffer at `off` elements past an aligned start (misaligned input).
template <typename T>
struct Shifted {
  std::vector<T> buf;
  size_t off;
  Shifted(const std::vector<T>& v, size_t o) : buf(o + v.size() + 1), off(o) {
    std::copy(v.begin(), v.end(), buf.begin() + o);
  }
  const T* data() const { return buf.data() + off; }
  T* data() { return buf.data() + off; }
};

}  // namespace qs::kernels::testing
