// Quantized formats and matmuls: quantizers and packers against their
// definitions, the ref matmul against double math on the dequantized values,
// every SIMD table bitwise equal to ref on awkward shapes, bitwise batch
// invariance, and shape errors.
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace qs::kernels {
namespace {

using testing::Out;

// A random matrix [n][k] packed as q8_0, q4 or q5 (group g), plus its dequantized floats.
struct Packed {
  WeightMatrix wm;
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // [n][k]
};

Packed make_q8(size_t n, size_t k, std::mt19937& rng) {
  auto w = testing::random_floats(n * k, rng);
  Packed p;
  p.bytes.resize(quant::q8_0_bytes(n, k) + 1);
  quant::pack_q8_0(
      n, k, [&](size_t j, quant::BlockQ8_0* b) { quant::quantize_row_q8_0(&w[j * k], k, b); },
      p.bytes.data(), nullptr);
  p.wm = WeightMatrix{WeightFormat::kQ8_0, p.bytes.data(),          int64_t(n),
                      int64_t(k),          quant::q8_0_bytes(n, k), 0};
  p.deq.resize(n * k);
  for (size_t j = 0; j < n; ++j) quant::dequant_row(p.wm, j, &p.deq[j * k]);
  return p;
}

// kQ4 (five = false) or kQ5, group g.
Packed make_qn(size_t n, size_t k, size_t g, bool five, std::mt19937& rng) {
  auto w = testing::random_floats(n * k, rng, -0.3f, 1.0f);  // asymmetric: mins matter
  Packed p;
  const size_t bytes = quant::qn_bytes(n, k, g, five);
  p.bytes.resize(bytes + 1);
  quant::pack_qn(
      n, k, g, five,
      [&](size_t j, uint8_t* q, uint16_t* s, uint16_t* m) {
        (five ? quant::quantize_row_q5 : quant::quantize_row_q4)(&w[j * k], k, g, q, s, m);
      },
      p.bytes.data(), nullptr);
  p.wm = WeightMatrix{five ? WeightFormat::kQ5 : WeightFormat::kQ4,
                      p.bytes.data(),
                      int64_t(n),
                      int64_t(k),
                      bytes,
                      int32_t(g)};
  p.deq.resize(n * k);
  for (size_t j = 0; j < n; ++j) quant::dequant_row(p.wm, j, &p.deq[j * k]);
  return p;
}

// The formats every matmul test runs: q8_0, q4 g32, q4 g128, q5 g32, q5 g128.
constexpr int kFormats = 5;
size_t fmt_group(int fmt) { return fmt == 0 ? 32 : (fmt % 2 == 1 ? 32 : 128); }
Packed make_fmt(int fmt, size_t n, size_t k, std::mt19937& rng) {
  if (fmt == 0) return make_q8(n, k, rng);
  return make_qn(n, k, fmt_group(fmt), fmt >= 3, rng);
}

void run(const KernelTable& t, const Packed& p, const float* x, size_t m, const float* bias,
         float* y, ThreadPool* pool) {
  const size_t n = size_t(p.wm.rows), k = size_t(p.wm.cols);
  if (p.wm.format == WeightFormat::kQ8_0) {
    t.matmul_q8_0(x, m, k, p.wm.data, n, bias, y, pool);
  } else if (p.wm.format == WeightFormat::kQ4) {
    t.matmul_q4(x, m, k, p.wm.data, n, size_t(p.wm.group), bias, y, pool);
  } else {
    t.matmul_q5(x, m, k, p.wm.data, n, size_t(p.wm.group), bias, y, pool);
  }
}

TEST(Quant, Q8_0RowRoundTripWithinHalfStep) {
  std::mt19937 rng(1);
  auto x = testing::random_floats(96, rng, -3, 3);
  std::vector<quant::BlockQ8_0> b(3);
  quant::quantize_row_q8_0(x.data(), 96, b.data());
  std::vector<float> y(96);
  quant::dequantize_row_q8_0(b.data(), 96, y.data());
  for (size_t i = 0; i < 96; ++i) {
    const float d = f16_to_f32(b[i / 32].d);
    // half a step, plus the f16 rounding of d times up to 127 steps
    EXPECT_NEAR(y[i], x[i], 0.5f * d + 127.0f * d / 2048.0f + 1e-6f) << i;
    EXPECT_GE(b[i / 32].qs[i % 32], -127);
  }
}

// quantize_row_q8_0 rounds like ggml's reference (roundf: halves away from
// zero), checked on exact halves and their neighbours: with amax = 127 the
// scale is 1, so x * id = x.
TEST(Quant, Q8_0RoundsHalvesAwayFromZeroLikeGgml) {
  std::vector<float> x;
  for (int v = -127; v <= 126; ++v) {
    const float h = static_cast<float>(v) + 0.5f;
    x.push_back(h);
    x.push_back(std::nextafter(h, 1000.0f));
    x.push_back(std::nextafter(h, -1000.0f));
  }
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-127.0f, 127.0f);
  while (x.size() % 31 != 0) x.push_back(u(rng));
  std::vector<float> row;
  for (size_t i = 0; i < x.size(); i += 31) {  // 31 values + the amax per block
    row.push_back(127.0f);
    row.insert(row.end(), x.begin() + i, x.begin() + i + 31);
  }
  std::vector<quant::BlockQ8_0> b(row.size() / 32);
  quant::quantize_row_q8_0(row.data(), row.size(), b.data());
  for (size_t i = 0; i < row.size(); ++i) {
    ASSERT_EQ(f16_to_f32(b[i / 32].d), 1.0f);
    ASSERT_EQ(b[i / 32].qs[i % 32], static_cast<int8_t>(std::lround(row[i]))) << row[i];
  }
}

TEST(Quant, Q4_0AndQ4_1AndGroupQ4RoundTrip) {
  std::mt19937 rng(2);
  auto x = testing::random_floats(256, rng, -2, 1);
  std::vector<float> y(256);
  std::vector<quant::BlockQ4_0> b0(8);
  quant::quantize_row_q4_0(x.data(), 256, b0.data());
  quant::dequantize_row_q4_0(b0.data(), 256, y.data());
  for (size_t i = 0; i < 256; ++i)
    EXPECT_NEAR(y[i], x[i], std::fabs(f16_to_f32(b0[i / 32].d)) * 1.01f) << i;
  std::vector<quant::BlockQ4_1> b1(8);
  quant::quantize_row_q4_1(x.data(), 256, b1.data());
  quant::dequantize_row_q4_1(b1.data(), 256, y.data());
  for (size_t i = 0; i < 256; ++i)
    EXPECT_NEAR(y[i], x[i], 0.5f * f16_to_f32(b1[i / 32].d) * 1.05f + 1e-3f) << i;
  for (size_t g : {32, 128}) {
    std::vector<uint8_t> q(256);
    std::vector<uint16_t> s(256 / g), m(256 / g);
    quant::quantize_row_q4(x.data(), 256, g, q.data(), s.data(), m.data());
    for (size_t i = 0; i < 256; ++i) {
      ASSERT_LE(q[i], 15);
      float v = f16_to_f32(s[i / g]) * q[i] + f16_to_f32(m[i / g]);
      EXPECT_NEAR(v, x[i], 0.5f * f16_to_f32(s[i / g]) * 1.05f + 1e-3f) << g << " " << i;
    }
  }
}

// `quantize --to int5` writes Q5_1 and `--quantize int5` packs kQ5 from
// quantize_row_q5: the same codes, scales and mins, so a .gguf and the
// directory quantized at load run the same weights.
TEST(Quant, Q5_1IsTheKQ5QuantizerInGgufBlocks) {
  std::mt19937 rng(12);
  auto x = testing::random_floats(256, rng, -2, 1);
  x[40] = 9.0f;                                      // one wide block
  std::fill(x.begin() + 64, x.begin() + 96, 0.25f);  // a constant block (d = 0)
  std::vector<quant::BlockQ5_1> b(8);
  quant::quantize_row_q5_1(x.data(), 256, b.data());
  std::vector<uint8_t> q(256), q1(256);
  std::vector<uint16_t> s(8), m(8), s1(8), m1(8);
  quant::quantize_row_q5(x.data(), 256, 32, q.data(), s.data(), m.data());
  quant::q5_1_codes(b.data(), 256, q1.data(), s1.data(), m1.data());
  EXPECT_EQ(q, q1);
  EXPECT_EQ(s, s1);
  EXPECT_EQ(m, m1);
  std::vector<float> y(256);
  quant::dequantize_row_q5_1(b.data(), 256, y.data());
  for (size_t i = 0; i < 256; ++i) {
    const float d = f16_to_f32(b[i / 32].d);
    EXPECT_NEAR(y[i], x[i], 0.5f * d * 1.05f + 2e-3f * std::fabs(x[i]) + 1e-6f) << i;
  }
}

// Q4_K / Q6_K dequantizers on hand-built blocks with known values.
TEST(Quant, KQuantDequantizersDecodeTheirFields) {
  quant::BlockQ6_K b6{};
  b6.d = f32_to_f16(0.5f);
  for (int i = 0; i < 16; ++i) b6.scales[i] = static_cast<int8_t>(i + 1);
  // element 0: ql[0] low nibble 5, qh[0] bits 0-1 = 2 -> q = 5 | 32 = 37 - 32 = 5
  b6.ql[0] = 0x05;
  b6.qh[0] = 0x02;
  std::vector<float> y(256);
  quant::dequantize_row_q6_k(&b6, 256, y.data());
  EXPECT_FLOAT_EQ(y[0], 0.5f * 1 * 5);
  EXPECT_FLOAT_EQ(y[1], 0.5f * 1 * -32);   // zero fields -> -32
  EXPECT_FLOAT_EQ(y[16], 0.5f * 2 * -32);  // second sub-block of 16 uses scale 2
  EXPECT_FLOAT_EQ(y[32], 0.5f * 3 * -32);  // elements 32.. use scales[2]
  quant::BlockQ4_K b4{};
  b4.d = f32_to_f16(2.0f);
  b4.dmin = f32_to_f16(1.0f);
  b4.scales[0] = 3;  // sub-block 0: scale 3
  b4.scales[4] = 7;  // sub-block 0: min 7
  b4.scales[1] = 1;  // sub-block 1: scale 1, min 0
  b4.qs[0] = 0x9A;   // element 0: 10, element 32: 9
  quant::dequantize_row_q4_k(&b4, 256, y.data());
  EXPECT_FLOAT_EQ(y[0], 2.0f * 3 * 10 - 7);
  EXPECT_FLOAT_EQ(y[1], -7.0f);
  EXPECT_FLOAT_EQ(y[32], 2.0f * 1 * 9);
}

TEST(Quant, PackUnpackAreInverses) {
  std::mt19937 rng(3);
  for (size_t n : {1, 15, 16, 17, 40})
    for (size_t k : {32, 96, 256}) {
      auto w = testing::random_floats(n * k, rng);
      std::vector<quant::BlockQ8_0> src(n * k / 32), got(k / 32);
      for (size_t j = 0; j < n; ++j) quant::quantize_row_q8_0(&w[j * k], k, &src[j * k / 32]);
      std::vector<uint8_t> buf(quant::q8_0_bytes(n, k));
      quant::pack_q8_0(
          n, k,
          [&](size_t j, quant::BlockQ8_0* b) {
            std::memcpy(b, &src[j * k / 32], k / 32 * sizeof(*b));
          },
          buf.data(), nullptr);
      for (size_t j = 0; j < n; ++j) {
        quant::unpack_row_q8_0(buf.data(), k, j, got.data());
        ASSERT_EQ(0, std::memcmp(got.data(), &src[j * k / 32], k / 32 * sizeof(got[0])))
            << n << " " << k << " " << j;
      }
      for (size_t g : {32, 128})
        for (bool five : {false, true}) {
          if (k % g) continue;
          std::vector<uint8_t> q(n * k), q2(k);
          std::vector<uint16_t> s(n * k / g), m(n * k / g), s2(k / g), m2(k / g);
          for (auto& v : q) v = rng() % (five ? 32 : 16);
          for (auto& v : s) v = static_cast<uint16_t>(rng());
          for (auto& v : m) v = static_cast<uint16_t>(rng());
          std::vector<uint8_t> b4(quant::qn_bytes(n, k, g, five));
          ThreadPool pool(2);
          (five ? quant::pack_q5 : quant::pack_q4)(
              n, k, g,
              [&](size_t j, uint8_t* qq, uint16_t* ss, uint16_t* mm) {
                std::memcpy(qq, &q[j * k], k);
                std::memcpy(ss, &s[j * k / g], k / g * 2);
                std::memcpy(mm, &m[j * k / g], k / g * 2);
              },
              b4.data(), &pool);
          for (size_t j = 0; j < n; ++j) {
            (five ? quant::unpack_row_q5 : quant::unpack_row_q4)(b4.data(), k, g, j, q2.data(),
                                                                 s2.data(), m2.data());
            ASSERT_EQ(0, std::memcmp(q2.data(), &q[j * k], k));
            ASSERT_EQ(0, std::memcmp(s2.data(), &s[j * k / g], k / g * 2));
            ASSERT_EQ(0, std::memcmp(m2.data(), &m[j * k / g], k / g * 2));
          }
        }
    }
}

// The ref equals double math on dequantized W and quantized-then-dequantized x.
TEST(QuantMatmul, RefMatchesDequantizedMath) {
  std::mt19937 rng(4);
  const size_t m = 3, k = 256, n = 21;
  auto x = testing::random_floats(m * k, rng, -2, 2);
  x[5] = 40.0f;  // an outlier only hurts its own block
  auto bias = testing::random_floats(n, rng);
  for (int fmt = 0; fmt < kFormats; ++fmt) {
    Packed p = make_fmt(fmt, n, k, rng);
    std::vector<float> y(m * n);
    run(ref(), p, x.data(), m, bias.data(), y.data(), nullptr);
    for (size_t i = 0; i < m; ++i) {
      std::vector<int8_t> q(k);
      std::vector<float> dx(k / 32), xs(k / 32);
      std::vector<int32_t> sum(k / 32);
      quant::quantize_x_row(&x[i * k], k, q.data(), dx.data(), sum.data(), xs.data());
      for (size_t j = 0; j < n; ++j) {
        double s = bias[j], mag = std::fabs(bias[j]), fs = bias[j];
        for (size_t t = 0; t < k; ++t) {
          double xv = double(q[t]) * dx[t / 32];
          s += xv * p.deq[j * k + t];
          mag += std::fabs(xv * p.deq[j * k + t]);
          fs += double(x[i * k + t]) * p.deq[j * k + t];
        }
        ASSERT_NEAR(y[i * n + j], s, 2e-5 * mag) << fmt << " " << i << "," << j;
        // Activation quantization error stays small relative to the magnitude.
        EXPECT_NEAR(y[i * n + j], fs, 0.02 * mag) << fmt << " " << i << "," << j;
      }
    }
  }
}

// bias_mode: 0 without bias, 1 with, -1 by the parity of m + n.
void check_tables_equal_ref(size_t m, size_t k, size_t n, int fmt, size_t off, ThreadPool* pool,
                            std::mt19937& rng, int bias_mode = -1) {
  Packed p = make_fmt(fmt, n, k, rng);
  auto x = testing::random_floats(m * k, rng, -3, 3);
  auto bias = testing::random_floats(n, rng);
  testing::Shifted<float> xs(x, off);
  std::vector<float> want(m * n);
  const bool with_bias = bias_mode < 0 ? (m + n) % 2 == 0 : bias_mode == 1;
  run(ref(), p, x.data(), m, with_bias ? bias.data() : nullptr, want.data(), nullptr);
  for (const KernelTable* t : testing::simd_tables()) {
    Out y(m * n, off);
    run(*t, p, xs.data(), m, with_bias ? bias.data() : nullptr, y.data(), pool);
    ASSERT_TRUE(y.guards_ok(m * n)) << t->name << " wrote outside y";
    ASSERT_EQ(0, std::memcmp(y.data(), want.data(), m * n * 4))
        << t->name << " fmt=" << fmt << " m=" << m << " k=" << k << " n=" << n;
  }
}

TEST(QuantMatmul, SimdTablesEqualRefBitwiseOnAwkwardShapes) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  for (int fmt = 0; fmt < kFormats; ++fmt)
    for (size_t k : {32, 64, 96, 128, 384})
      for (size_t n : {1, 3, 15, 16, 17, 33, 50})
        for (size_t m : {1, 2, 3, 4, 5, 8, 9, 13}) {
          if (k % fmt_group(fmt)) continue;
          check_tables_equal_ref(m, k, n, fmt, (k + n + m) % 2, (n % 2) ? &pool : nullptr, rng);
        }
}

// The AVX2 tiles: 4 rows x 8 outputs, single rows x 16; shapes around their
// edges (m % 4, n % 8, n % 16), both bias modes, misaligned x and y.
TEST(QuantMatmul, SimdTablesEqualRefAroundTileEdges) {
  std::mt19937 rng(8);
  ThreadPool pool(2);
  for (int fmt = 0; fmt < kFormats; ++fmt)
    for (size_t k : {32, 64, 96, 896})
      for (size_t n : {1, 8, 9, 15, 16, 17, 24, 33, 100})
        for (size_t m : {1, 2, 3, 5, 17}) {
          if (k % fmt_group(fmt)) continue;
          if (k == 896 && m > 5 && n < 100) continue;  // (keeps the ref's time down)
          for (int with_bias : {0, 1})
            check_tables_equal_ref(m, k, n, fmt, (m + with_bias) % 2, (n % 2) ? &pool : nullptr,
                                   rng, with_bias);
        }
}

// Extreme values where a u8 x s8 vpmaddubsw pair would saturate int16 (or an
// int16 block sum overflow): all |q| at the maximum, x at +-127 with the
// weights' signs, so every product has the same sign. kQ8_0 also gets the
// byte -128 (0 stored), which GGUF Q8_0 files may contain.
TEST(QuantMatmul, ExtremeValuesDoNotSaturate) {
  const size_t k = 128, n = 20, m = 3;
  std::mt19937 rng(9);
  // q8: weights in {-128, -127, 127}, x = +-1 with the weight's sign (row 0),
  // the opposite sign (row 1), random sign (row 2); every block's max is 1 -> qx = +-127.
  std::vector<uint8_t> q8(quant::q8_0_bytes(n, k));
  std::vector<int8_t> wq(n * k);
  for (size_t j = 0; j < n; ++j)
    for (size_t t = 0; t < k; ++t) {
      const int r = static_cast<int>((j + t) % 5);
      wq[j * k + t] = static_cast<int8_t>(r == 0 ? -128 : r < 3 ? -127 : 127);
    }
  quant::pack_q8_0(
      n, k,
      [&](size_t j, quant::BlockQ8_0* b) {
        for (size_t c = 0; c < k / 32; ++c) {
          b[c].d = f32_to_f16(0.01f * static_cast<float>(j + 1));
          std::memcpy(b[c].qs, &wq[j * k + c * 32], 32);
        }
      },
      q8.data(), nullptr);
  // q4 / q5: every value at its maximum (15 / 31), s = 0.5, m = -1, and
  // x = +-1 all of one sign per row. q5's vpmaddubsw pairs reach 2 * 31 *
  // 127, and 8 of them would overflow an s16 sum (AVX2 widens every 4).
  const size_t g = 32;
  auto all_max = [&](bool five) {
    std::vector<uint8_t> w(quant::qn_bytes(n, k, g, five));
    quant::pack_qn(
        n, k, g, five,
        [&](size_t, uint8_t* q, uint16_t* s, uint16_t* mn) {
          std::fill(q, q + k, static_cast<uint8_t>(five ? 31 : 15));
          std::fill(s, s + k / g, f32_to_f16(0.5f));
          std::fill(mn, mn + k / g, f32_to_f16(-1.0f));
        },
        w.data(), nullptr);
    return w;
  };
  const std::vector<uint8_t> q4 = all_max(false), q5 = all_max(true);
  for (size_t j0 = 0; j0 < n; j0 += n - 1) {  // weight signs of output rows 0 and n-1
    std::vector<float> x(m * k);
    for (size_t t = 0; t < k; ++t) {
      const float sgn = wq[j0 * k + t] < 0 ? -1.0f : 1.0f;
      x[t] = sgn;
      x[k + t] = -sgn;
      x[2 * k + t] = (rng() % 2) ? 1.0f : -1.0f;
    }
    std::vector<float> x4(m * k);
    for (size_t t = 0; t < k; ++t) {
      x4[t] = 1.0f;
      x4[k + t] = -1.0f;
      x4[2 * k + t] = (t % 7) ? 1.0f : -1.0f;
    }
    std::vector<float> want8(m * n), want4(m * n), want5(m * n);
    ref().matmul_q8_0(x.data(), m, k, q8.data(), n, nullptr, want8.data(), nullptr);
    ref().matmul_q4(x4.data(), m, k, q4.data(), n, g, nullptr, want4.data(), nullptr);
    ref().matmul_q5(x4.data(), m, k, q5.data(), n, g, nullptr, want5.data(), nullptr);
    EXPECT_NEAR(want5[0], k * (0.5 * 31 - 1.0), 1e-3 * k * 15.5);
    // Sanity of the ref itself: row 0 of output j0 is sum |q| * 127 * d * dx.
    double s = 0;
    for (size_t t = 0; t < k; ++t) s += std::abs(int(wq[j0 * k + t])) * 127.0;
    EXPECT_NEAR(want8[j0], s * 0.01 * double(j0 + 1) / 127.0, 1e-3 * s * 0.01 * double(j0 + 1));
    EXPECT_NEAR(want4[0], k * (0.5 * 15 - 1.0), 1e-3 * k * 7.5);
    for (const KernelTable* t : testing::simd_tables()) {
      std::vector<float> y(m * n);
      t->matmul_q8_0(x.data(), m, k, q8.data(), n, nullptr, y.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(y.data(), want8.data(), m * n * 4)) << t->name << " q8_0";
      t->matmul_q4(x4.data(), m, k, q4.data(), n, g, nullptr, y.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(y.data(), want4.data(), m * n * 4)) << t->name << " q4";
      t->matmul_q5(x4.data(), m, k, q5.data(), n, g, nullptr, y.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(y.data(), want5.data(), m * n * 4)) << t->name << " q5";
    }
  }
}

TEST(QuantMatmul, RealShapes) {
  std::mt19937 rng(6);
  ThreadPool pool(2);
  for (int fmt = 0; fmt < kFormats; ++fmt) {
    check_tables_equal_ref(3, 896, 40, fmt, 0, &pool, rng);
    check_tables_equal_ref(2, 4864, 20, fmt, 1, &pool, rng);
    // Prefill-sized x (m * k >= 64K): its quantization is split over the pool.
    check_tables_equal_ref(75, 896, 40, fmt, 0, &pool, rng);
  }
}

// y[i][j] must not depend on m, the row's place in the batch, or the threads.
TEST(QuantMatmul, BitwiseBatchInvariance) {
  std::mt19937 rng(7);
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  const size_t total = 30, n = 70;
  for (size_t k : {128, 896})
    for (int fmt = 0; fmt < kFormats; ++fmt) {
      Packed p = make_fmt(fmt, n, k, rng);
      auto x = testing::random_floats(total * k, rng);
      auto bias = testing::random_floats(n, rng);
      for (const KernelTable* t : testing::all_tables()) {
        std::vector<float> alone(total * n), batch(total * n);
        for (size_t i = 0; i < total; ++i)
          run(*t, p, x.data() + i * k, 1, bias.data(), alone.data() + i * n, nullptr);
        for (size_t m = 1; m <= 25; m += (m < 10 ? 1 : 3))
          for (ThreadPool* pl : pools) {
            size_t start = m % 5;
            run(*t, p, x.data() + start * k, m, bias.data(), batch.data(), pl);
            ASSERT_EQ(0, std::memcmp(batch.data(), alone.data() + start * n, m * n * 4))
                << t->name << " fmt=" << fmt << " k=" << k << " m=" << m;
          }
      }
    }
}

TEST(Quant, ShapeChecksExplainTheProblem) {
  EXPECT_TRUE(quant::check_q8_0_shape(16, 896).ok());
  auto s = quant::check_q8_0_shape(16, 100);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("multiple of the block size 32"), std::string::npos);
  EXPECT_TRUE(quant::check_q4_shape(5, 896, 128).ok());
  s = quant::check_q4_shape(5, 896, 256);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not divide"), std::string::npos);
  EXPECT_FALSE(quant::check_q4_shape(5, 896, 48).ok());
  EXPECT_FALSE(quant::check_q4_shape(5, 896, 0).ok());
  EXPECT_EQ(quant::q8_0_bytes(17, 64), 2u * 2 * 544);
  EXPECT_EQ(quant::q4_bytes(16, 256, 128), 8u * 256 + 2 * 64);
  EXPECT_EQ(quant::q5_bytes(16, 256, 32), 8u * (320 + 64));
  EXPECT_FALSE(quant::check_q5_shape(5, 896, 256).ok());
}

}  // namespace
}  // namespace qs::kernels
