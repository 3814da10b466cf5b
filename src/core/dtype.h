// Element types of tensors on disk and in memory, and scalar conversions.
// BF16 is the top half of an IEEE float32; F16 is IEEE half.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace qs {

enum class DType : uint8_t { F32, F16, BF16, I32, I64, U8, I8, I16, U16, U32, U64, F64, BOOL };

// Bytes per element.
size_t dtype_size(DType t);
// Safetensors spelling: "F32", "BF16", ... (also used in messages).
std::string_view dtype_name(DType t);
// Parses a safetensors dtype string; false if unknown.
bool parse_dtype(std::string_view s, DType* out);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, NaN kept quiet (as torch does).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace qs
