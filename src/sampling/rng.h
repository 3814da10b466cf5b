// A per-request random number generator: xoshiro256** seeded through
// splitmix64. Reproducible for a given seed, on every platform.
#pragma once

#include <cstdint>

namespace qs::sampling {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  // Seeded from std::random_device (for requests without a seed).
  static Rng from_entropy();

  uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

}  // namespace qs::sampling
