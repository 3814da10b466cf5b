// The counter-based generator. Compiled with -ffp-contract=off (see
// CMakeLists.txt): a*scale + offset must be two float32 roundings, as in numpy.
#include <cstdint>

#include "core/dtype.h"
#include "synth.h"

namespace qs::synth {
namespace {

constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;

inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

float synth_value(uint64_t stream, uint64_t index, float scale, float offset) {
  const uint64_t z = mix(stream + (index + 1) * kGoldenGamma);
  // 24 random bits k: a = k * 2^-23 - 1 is exact in float32.
  const float a = static_cast<float>(z >> 40) * 0x1p-23f - 1.0f;
  const float v = a * scale;  // rounded here: this file is built with -ffp-contract=off
  return v + offset;
}

void fill_f32(uint64_t stream, float scale, float offset, size_t begin, size_t end, float* out) {
  for (size_t i = begin; i < end; ++i) out[i - begin] = synth_value(stream, i, scale, offset);
}

void fill_bf16(uint64_t stream, float scale, float offset, size_t begin, size_t end,
               uint16_t* out) {
  for (size_t i = begin; i < end; ++i) {
    out[i - begin] = f32_to_bf16(synth_value(stream, i, scale, offset));
  }
}

}  // namespace qs::synth
