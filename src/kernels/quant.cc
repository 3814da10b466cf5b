#include "kernels/quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dtype.h"

namespace qs::kernels::quant {

// ---- GGUF blocks (ggml's reference algorithms) ----

namespace {
// roundf (half away from zero, ggml's Q8_0 rounding) for |v| < 2^24, without
// a libm call per weight (lroundf was 10 % of an INT8 quantize-at-load).
// v - trunc(v) is exact in that range.
inline int round_half_away(float v) {
  const int t = static_cast<int>(v);  // toward zero
  const float f = v - static_cast<float>(t);
  return t + (f >= 0.5f) - (f <= -0.5f);
}
}  // namespace

void quantize_row_q8_0(const float* x, size_t k, BlockQ8_0* out) {
  for (size_t b = 0; b < k / kBlock; ++b, x += kBlock) {
    float amax = 0;
    for (size_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    for (size_t j = 0; j < kBlock; ++j)
      out[b].qs[j] = static_cast<int8_t>(round_half_away(x[j] * id));
  }
}

void quantize_row_q4_0(const float* x, size_t k, BlockQ4_0* out) {
  for (size_t b = 0; b < k / kBlock; ++b, x += kBlock) {
    float amax = 0, max = 0;
    for (size_t j = 0; j < kBlock; ++j)
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    const float d = max / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    for (size_t j = 0; j < 16; ++j) {
      int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
      out[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

namespace {
// Min form over groups with codes 0..qmax (q4_1's algorithm).
void quantize_row_min_form(const float* x, size_t k, size_t group, int qmax, uint8_t* q,
                           uint16_t* s, uint16_t* m) {
  for (size_t g = 0; g < k / group; ++g, x += group, q += group) {
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (size_t j = 0; j < group; ++j) {
      mn = std::min(mn, x[j]);
      mx = std::max(mx, x[j]);
    }
    const float d = (mx - mn) / static_cast<float>(qmax);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    s[g] = f32_to_f16(d);
    m[g] = f32_to_f16(mn);
    for (size_t j = 0; j < group; ++j)
      q[j] = static_cast<uint8_t>(
          std::min(qmax, static_cast<int>(static_cast<int8_t>((x[j] - mn) * id + 0.5f))));
  }
}
}  // namespace

// Q4_1 / Q5_1: ggml's algorithm is the min form over blocks of 32
// (quantize_row_min_form above), its codes packed into the blocks.
void quantize_row_q4_1(const float* x, size_t k, BlockQ4_1* out) {
  uint8_t q[kBlock];
  for (size_t b = 0; b < k / kBlock; ++b) {
    quantize_row_min_form(x + b * kBlock, kBlock, kBlock, 15, q, &out[b].d, &out[b].m);
    for (size_t j = 0; j < 16; ++j) out[b].qs[j] = static_cast<uint8_t>(q[j] | q[j + 16] << 4);
  }
}

void quantize_row_q5_1(const float* x, size_t k, BlockQ5_1* out) {
  uint8_t q[kBlock];
  for (size_t b = 0; b < k / kBlock; ++b) {
    quantize_row_min_form(x + b * kBlock, kBlock, kBlock, 31, q, &out[b].d, &out[b].m);
    uint32_t qh = 0;
    for (size_t j = 0; j < 16; ++j) {
      out[b].qs[j] = static_cast<uint8_t>((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
      qh |= static_cast<uint32_t>(q[j] >> 4) << j | static_cast<uint32_t>(q[j + 16] >> 4)
                                                        << (j + 16);
    }
    for (int i = 0; i < 4; ++i) out[b].qh[i] = static_cast<uint8_t>(qh >> (8 * i));
  }
}

void dequantize_row_q8_0(const BlockQ8_0* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kBlock; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (size_t j = 0; j < kBlock; ++j) *y++ = d * b[i].qs[j];
  }
}

void dequantize_row_q4_0(const BlockQ4_0* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kBlock; ++i, y += kBlock) {
    const float d = f16_to_f32(b[i].d);
    for (size_t j = 0; j < 16; ++j) {
      y[j] = d * ((b[i].qs[j] & 0xF) - 8);
      y[j + 16] = d * ((b[i].qs[j] >> 4) - 8);
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kBlock; ++i, y += kBlock) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (size_t j = 0; j < 16; ++j) {
      y[j] = d * (b[i].qs[j] & 0xF) + m;
      y[j + 16] = d * (b[i].qs[j] >> 4) + m;
    }
  }
}

namespace {
void scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}
}  // namespace

void dequantize_row_q4_k(const BlockQ4_K* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kQK_K; ++i) {
    const uint8_t* q = b[i].qs;
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    int is = 0;
    for (size_t j = 0; j < kQK_K; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      scale_min_k4(is, b[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(is + 1, b[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequantize_row_q6_k(const BlockQ6_K* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kQK_K; ++i) {
    const float d = f16_to_f32(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (size_t n = 0; n < kQK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

namespace {
// Element e (0..31) of a 32-block's 16 nibble bytes (Q4_0/Q4_1/Q5_*/IQ4_NL):
// the low nibble of qs[e] for e < 16, the high nibble of qs[e - 16] after.
inline int nibble(const uint8_t* qs, int e) { return e < 16 ? (qs[e] & 0xF) : (qs[e - 16] >> 4); }

// Element e of a Q5_0 / Q5_1 block: its nibble, 5th bit = bit e of qh as a
// little-endian u32.
inline int q5_value(const uint8_t* qh, const uint8_t* qs, int e) {
  const uint32_t h = static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
                     static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
  return nibble(qs, e) | static_cast<int>((h >> e) & 1) << 4;
}
}  // namespace

void dequantize_row_q5_0(const BlockQ5_0* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kBlock; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int e = 0; e < 32; ++e) *y++ = static_cast<float>(q5_value(b[i].qh, b[i].qs, e) - 16) * d;
  }
}

void dequantize_row_q5_1(const BlockQ5_1* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kBlock; ++i) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (int e = 0; e < 32; ++e) {
      const float p = static_cast<float>(q5_value(b[i].qh, b[i].qs, e)) * d;
      *y++ = p + m;
    }
  }
}

void dequantize_row_iq4_nl(const BlockIQ4_NL* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kBlock; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int e = 0; e < 32; ++e) *y++ = d * static_cast<float>(kIQ4NLValues[nibble(b[i].qs, e)]);
  }
}

void iq4_nl_to_q8_0(const BlockIQ4_NL* b, size_t nb, BlockQ8_0* out) {
  for (size_t i = 0; i < nb; ++i) {
    out[i].d = b[i].d;
    for (int e = 0; e < 32; ++e) out[i].qs[e] = kIQ4NLValues[nibble(b[i].qs, e)];
  }
}

namespace {
inline int code_of(const BlockQ4_0& b, int e) { return nibble(b.qs, e); }
inline int code_of(const BlockQ4_1& b, int e) { return nibble(b.qs, e); }
inline int code_of(const BlockQ5_0& b, int e) { return q5_value(b.qh, b.qs, e); }
inline int code_of(const BlockQ5_1& b, int e) { return q5_value(b.qh, b.qs, e); }

// The legacy 32-blocks as min-form codes: q = the block's unsigned code,
// s = d, m = the block's min (Q4_1 / Q5_1) or -zero * d (Q4_0: 8, Q5_0: 16;
// exact in f16: a power-of-two multiple).
template <typename Block>
void legacy_codes(const Block* b, size_t k, float zero, uint8_t* q, uint16_t* s, uint16_t* m) {
  for (size_t i = 0; i < k / kBlock; ++i, q += 32) {
    s[i] = b[i].d;
    if constexpr (requires { b[i].m; }) {
      m[i] = b[i].m;
    } else {
      m[i] = f32_to_f16(-zero * f16_to_f32(b[i].d));
    }
    for (int e = 0; e < 32; ++e) q[e] = static_cast<uint8_t>(code_of(b[i], e));
  }
}
}  // namespace

void q4_0_codes(const BlockQ4_0* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m) {
  legacy_codes(b, k, 8.0f, q, s, m);
}
void q4_1_codes(const BlockQ4_1* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m) {
  legacy_codes(b, k, 0.0f, q, s, m);
}
void q5_0_codes(const BlockQ5_0* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m) {
  legacy_codes(b, k, 16.0f, q, s, m);
}
void q5_1_codes(const BlockQ5_1* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m) {
  legacy_codes(b, k, 0.0f, q, s, m);
}

namespace {
// Q4_K / Q5_K as min-form codes per 32-sub-block: s = f16(d sc), m = f16(-dmin min).
template <typename Block>
void k_quant_codes(const Block* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m) {
  for (size_t i = 0; i < k / kQK_K; ++i) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int sb = 0; sb < 8; ++sb, q += 32) {
      uint8_t sc, mn;
      scale_min_k4(sb, b[i].scales, &sc, &mn);
      s[i * 8 + sb] = f32_to_f16(d * sc);
      m[i * 8 + sb] = f32_to_f16(-dmin * mn);
      const uint8_t* qs = b[i].qs + (sb / 2) * 32;
      for (int l = 0; l < 32; ++l) {
        int v = (sb % 2 == 0) ? (qs[l] & 0xF) : (qs[l] >> 4);
        if constexpr (std::is_same_v<Block, BlockQ5_K>) v += 16 * ((b[i].qh[l] >> sb) & 1);
        q[l] = static_cast<uint8_t>(v);
      }
    }
  }
}
}  // namespace

void q4_k_codes(const BlockQ4_K* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m) {
  k_quant_codes(b, k, q, s, m);
}
void q5_k_codes(const BlockQ5_K* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m) {
  k_quant_codes(b, k, q, s, m);
}

// Q2_K / Q3_K quant planes: element e of a 256-block takes bits 2s..2s+1 of
// qs[32 h + t] with h = e / 128, s = (e % 128) / 32, t = e % 32.
namespace {
inline int k_plane2(const uint8_t* qs, int e) {
  return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}
}  // namespace

void dequantize_row_q2_k(const BlockQ2_K* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kQK_K; ++i) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int sb = 0; sb < 16; ++sb) {
      const uint8_t sc = b[i].scales[sb];
      const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
      for (int e = 16 * sb; e < 16 * sb + 16; ++e) {
        const float p = dl * static_cast<float>(k_plane2(b[i].qs, e));
        *y++ = p - ml;
      }
    }
  }
}

void dequantize_row_q3_k(const BlockQ3_K* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kQK_K; ++i) {
    const float d = f16_to_f32(b[i].d);
    const uint8_t* sc = b[i].scales;
    for (int sb = 0; sb < 16; ++sb) {
      // Low 4 bits: bytes 0..7 (low halves for sub-blocks 0..7, high for 8..15);
      // high 2 bits: byte 8 + sb % 4 at bit 2 (sb / 4).
      const int low = sb < 8 ? (sc[sb] & 0xF) : (sc[sb - 8] >> 4);
      const int high = (sc[8 + sb % 4] >> (2 * (sb / 4))) & 3;
      const float dl = d * static_cast<float>((low | high << 4) - 32);
      for (int e = 16 * sb; e < 16 * sb + 16; ++e) {
        const int hbit = (b[i].hmask[e % 32] >> (e / 32)) & 1;
        *y++ = dl * static_cast<float>(k_plane2(b[i].qs, e) - (hbit ? 0 : 4));
      }
    }
  }
}

void dequantize_row_q5_k(const BlockQ5_K* b, size_t k, float* y) {
  for (size_t i = 0; i < k / kQK_K; ++i) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int sb = 0; sb < 8; ++sb) {
      uint8_t sc, mn;
      scale_min_k4(sb, b[i].scales, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      const uint8_t* ql = b[i].qs + 32 * (sb / 2);
      for (int l = 0; l < 32; ++l) {
        const int q = (sb % 2 == 0 ? (ql[l] & 0xF) : (ql[l] >> 4)) + 16 * ((b[i].qh[l] >> sb) & 1);
        const float p = d1 * static_cast<float>(q);
        *y++ = p - m1;
      }
    }
  }
}

void quantize_row_q4(const float* x, size_t k, size_t group, uint8_t* q, uint16_t* s, uint16_t* m) {
  quantize_row_min_form(x, k, group, 15, q, s, m);
}

void quantize_row_q5(const float* x, size_t k, size_t group, uint8_t* q, uint16_t* s, uint16_t* m) {
  quantize_row_min_form(x, k, group, 31, q, s, m);
}

// ---- packed layouts ----

namespace {
size_t groups_of(size_t n) { return (n + kRowGroup - 1) / kRowGroup; }
size_t q8_group_stride(size_t k) { return k / kBlock * 544; }
size_t qn_group_stride(size_t k, size_t group, bool high) {
  return k / group * qn_run_bytes(group, high);
}

void for_groups(size_t groups, ThreadPool* pool, const std::function<void(size_t, size_t)>& fn) {
  if (pool && pool->num_threads() > 1) {
    pool->parallel_for(groups, 1, fn);
  } else {
    fn(0, groups);
  }
}
}  // namespace

size_t q8_0_bytes(size_t n, size_t k) { return groups_of(n) * q8_group_stride(k); }
size_t qn_bytes(size_t n, size_t k, size_t group, bool high) {
  return group == 0 ? 0 : groups_of(n) * qn_group_stride(k, group, high);
}
size_t q4_bytes(size_t n, size_t k, size_t group) { return qn_bytes(n, k, group, false); }
size_t q5_bytes(size_t n, size_t k, size_t group) { return qn_bytes(n, k, group, true); }

Status check_q8_0_shape(size_t n, size_t k) {
  if (n == 0 || k == 0) return Status::Error("q8_0: empty matrix");
  if (k % kBlock != 0)
    return Status::Error("q8_0: input dimension " + std::to_string(k) +
                         " is not a multiple of the block size 32");
  return Status::Ok();
}

Status check_qn_shape(size_t n, size_t k, size_t group, bool high) {
  const std::string f = high ? "q5" : "q4";
  if (n == 0 || k == 0) return Status::Error(f + ": empty matrix");
  if (group == 0 || group % kBlock != 0)
    return Status::Error(f + ": group size " + std::to_string(group) +
                         " is not a positive multiple of 32");
  if (k % group != 0)
    return Status::Error(f + ": group size " + std::to_string(group) +
                         " does not divide the input dimension " + std::to_string(k));
  return Status::Ok();
}
Status check_q4_shape(size_t n, size_t k, size_t group) {
  return check_qn_shape(n, k, group, false);
}
Status check_q5_shape(size_t n, size_t k, size_t group) {
  return check_qn_shape(n, k, group, true);
}

void pack_q8_0(size_t n, size_t k, const Q8RowFn& row, uint8_t* out, ThreadPool* pool) {
  const size_t nb = k / kBlock, stride = q8_group_stride(k);
  for_groups(groups_of(n), pool, [&](size_t g0, size_t g1) {
    std::vector<BlockQ8_0> blocks(nb);
    for (size_t g = g0; g < g1; ++g) {
      uint8_t* base = out + g * stride;
      for (size_t r = 0; r < kRowGroup; ++r) {
        const size_t j = g * kRowGroup + r;
        if (j < n) {
          row(j, blocks.data());
        } else {
          std::memset(blocks.data(), 0, nb * sizeof(BlockQ8_0));
        }
        for (size_t b = 0; b < nb; ++b) {
          for (size_t t = 0; t < kBlock; ++t)
            base[b * 512 + (t / 4) * 64 + r * 4 + t % 4] =
                static_cast<uint8_t>(blocks[b].qs[t] + 128);
          std::memcpy(base + nb * 512 + b * 32 + r * 2, &blocks[b].d, 2);
        }
      }
    }
  });
}

// kQ4 (high = false) and kQ5: values q[k] (4 or 5 bits), f16 s/m per group.
void pack_qn(size_t n, size_t k, size_t group, bool high, const Q4RowFn& row, uint8_t* out,
             ThreadPool* pool) {
  const size_t nb = k / kBlock, ng = k / group, stride = qn_group_stride(k, group, high);
  for_groups(groups_of(n), pool, [&](size_t g0, size_t g1) {
    std::vector<uint8_t> q(k);
    std::vector<uint16_t> s(ng), m(ng);
    for (size_t g = g0; g < g1; ++g) {
      uint8_t* base = out + g * stride;
      if (high) std::memset(base, 0, stride);  // the 5th-bit masks are OR-ed in
      for (size_t r = 0; r < kRowGroup; ++r) {
        const size_t j = g * kRowGroup + r;
        if (j < n) {
          row(j, q.data(), s.data(), m.data());
        } else {
          std::fill(q.begin(), q.end(), 0);
          std::fill(s.begin(), s.end(), 0);
          std::fill(m.begin(), m.end(), 0);
        }
        for (size_t b = 0; b < nb; ++b) {
          uint8_t* values = base + qn_values_at(b, group, high) + r * 4;
          // Mask (p, half) bit r * 4 + e: the 5th bit of the value that nibble
          // (r, e) of the low (half 0) or high (half 1) vector holds.
          uint8_t* masks = base + qn_values_at(b, group, high) + 256 + r / 2;
          const uint8_t* qb = q.data() + b * 32;
          for (size_t p = 0; p < 4; ++p)
            for (size_t e = 0; e < 4; ++e) {
              const uint8_t lo = qb[8 * p + e], hi = qb[8 * p + 4 + e];
              values[p * 64 + e] = static_cast<uint8_t>((lo & 0xF) | (hi & 0xF) << 4);
              if (!high) continue;
              const int bit = static_cast<int>((r % 2) * 4 + e);  // within byte r / 2
              masks[p * 16] |= static_cast<uint8_t>(((lo >> 4) & 1) << bit);
              masks[p * 16 + 8] |= static_cast<uint8_t>(((hi >> 4) & 1) << bit);
            }
        }
        for (size_t i = 0; i < ng; ++i) {
          std::memcpy(base + qn_scales_at(i, group, high) + r * 2, &s[i], 2);
          std::memcpy(base + qn_mins_at(i, group, high) + r * 2, &m[i], 2);
        }
      }
    }
  });
}

void unpack_row_qn(const void* w, size_t k, size_t group, bool high, size_t row, uint8_t* q,
                   uint16_t* s, uint16_t* m) {
  const size_t nb = k / kBlock, ng = k / group, r = row % kRowGroup;
  const uint8_t* base =
      static_cast<const uint8_t*>(w) + row / kRowGroup * qn_group_stride(k, group, high);
  for (size_t b = 0; b < nb; ++b)
    for (size_t p = 0; p < 4; ++p)
      for (size_t e = 0; e < 4; ++e) {
        const uint8_t v = base[qn_values_at(b, group, high) + p * 64 + r * 4 + e];
        uint8_t lo = v & 0xF, hi = v >> 4;
        if (high) {
          const size_t bit = r * 4 + e;
          const uint8_t* mask = base + q5_high_at(b, group) + p * 16;
          lo |= static_cast<uint8_t>(((mask[bit / 8] >> (bit % 8)) & 1) << 4);
          hi |= static_cast<uint8_t>(((mask[8 + bit / 8] >> (bit % 8)) & 1) << 4);
        }
        q[b * 32 + 8 * p + e] = lo;
        q[b * 32 + 8 * p + 4 + e] = hi;
      }
  for (size_t i = 0; i < ng; ++i) {
    std::memcpy(&s[i], base + qn_scales_at(i, group, high) + r * 2, 2);
    std::memcpy(&m[i], base + qn_mins_at(i, group, high) + r * 2, 2);
  }
}

void pack_q4(size_t n, size_t k, size_t group, const Q4RowFn& row, uint8_t* out, ThreadPool* pool) {
  pack_qn(n, k, group, false, row, out, pool);
}
void pack_q5(size_t n, size_t k, size_t group, const Q4RowFn& row, uint8_t* out, ThreadPool* pool) {
  pack_qn(n, k, group, true, row, out, pool);
}

void unpack_row_q8_0(const void* w, size_t k, size_t row, BlockQ8_0* out) {
  const size_t nb = k / kBlock, r = row % kRowGroup;
  const uint8_t* base = static_cast<const uint8_t*>(w) + row / kRowGroup * q8_group_stride(k);
  for (size_t b = 0; b < nb; ++b) {
    for (size_t t = 0; t < kBlock; ++t)
      out[b].qs[t] = static_cast<int8_t>(base[b * 512 + (t / 4) * 64 + r * 4 + t % 4] - 128);
    std::memcpy(&out[b].d, base + nb * 512 + b * 32 + r * 2, 2);
  }
}

void unpack_row_q4(const void* w, size_t k, size_t group, size_t row, uint8_t* q, uint16_t* s,
                   uint16_t* m) {
  unpack_row_qn(w, k, group, false, row, q, s, m);
}
void unpack_row_q5(const void* w, size_t k, size_t group, size_t row, uint8_t* q, uint16_t* s,
                   uint16_t* m) {
  unpack_row_qn(w, k, group, true, row, q, s, m);
}

void dequant_row(const WeightMatrix& w, size_t row, float* out) {
  const size_t k = static_cast<size_t>(w.cols);
  switch (w.format) {
    case WeightFormat::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + row * k;
      for (size_t t = 0; t < k; ++t) out[t] = bf16_to_f32(p[t]);
      return;
    }
    case WeightFormat::kQ8_0: {
      std::vector<BlockQ8_0> b(k / kBlock);
      unpack_row_q8_0(w.data, k, row, b.data());
      dequantize_row_q8_0(b.data(), k, out);
      return;
    }
    case WeightFormat::kQ4:
    case WeightFormat::kQ5: {
      const size_t g = static_cast<size_t>(w.group);
      std::vector<uint8_t> q(k);
      std::vector<uint16_t> s(k / g), m(k / g);
      unpack_row_qn(w.data, k, g, w.format == WeightFormat::kQ5, row, q.data(), s.data(), m.data());
      for (size_t t = 0; t < k; ++t) {
        const float sc = f16_to_f32(s[t / g]), mn = f16_to_f32(m[t / g]);
        out[t] = sc * static_cast<float>(q[t]) + mn;
      }
      return;
    }
  }
}

void quantize_x_row(const float* x, size_t k, int8_t* qx, float* dx, int32_t* xsum, float* xs) {
  for (size_t b = 0; b < k / kBlock; ++b) {
    const float* xb = x + b * kBlock;
    float amax = 0;
    for (size_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (size_t j = 0; j < kBlock; ++j) {
      const int q = static_cast<int>(std::nearbyint(xb[j] * id));
      qx[b * kBlock + j] = static_cast<int8_t>(q);
      sum += q;
    }
    dx[b] = d;
    xsum[b] = sum;
    xs[b] = d * static_cast<float>(sum);
  }
}

}  // namespace qs::kernels::quant

namespace qs::kernels {
const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBF16:
      return "bf16";
    case WeightFormat::kQ8_0:
      return "q8_0";
    case WeightFormat::kQ4:
      return "q4";
    case WeightFormat::kQ5:
      return "q5";
  }
  return "?";
}
}  // namespace qs::kernels
