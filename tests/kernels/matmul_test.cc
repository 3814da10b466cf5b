// Matmuls: every SIMD table vs ref on awkward shapes, the ref vs a double
// computation, and bitwise batch invariance for every table.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"
#include "test_util.h"

namespace qs::kernels {
namespace {

using testing::Out;
using testing::Shifted;

using MatmulFn = void (*)(const float*, size_t, size_t, const uint16_t*, size_t, const float*,
                          float*, ThreadPool*);

// y computed in double from (optionally bf16-rounded) x; also returns sum |x w|.
void exact_matmul(const std::vector<float>& x, size_t m, size_t k, const std::vector<uint16_t>& w,
                  size_t n, const float* bias, bool lowp, std::vector<double>* y,
                  std::vector<double>* mag) {
  y->assign(m * n, 0.0);
  mag->assign(m * n, 0.0);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = 0, a = 0;
      for (size_t t = 0; t < k; ++t) {
        double xv = lowp ? bf16_to_f32(f32_to_bf16(x[i * k + t])) : x[i * k + t];
        double p = xv * bf16_to_f32(w[j * k + t]);
        s += p;
        a += std::fabs(p);
      }
      (*y)[i * n + j] = s + (bias ? bias[j] : 0.0);
      (*mag)[i * n + j] = a + (bias ? std::fabs(bias[j]) : 0.0);
    }
}

void check_matmul(const KernelTable& t, bool lowp, size_t m, size_t k, size_t n, bool with_bias,
                  size_t off, ThreadPool* pool, std::mt19937& rng) {
  auto x = testing::random_floats(m * k, rng);
  auto w = testing::random_bf16(n * k, rng);
  auto bias = testing::random_floats(n, rng);
  Shifted<float> xs(x, off);
  Shifted<uint16_t> ws(w, off);
  Shifted<float> bs(bias, off);
  Out y(m * n, off);
  MatmulFn fn = lowp ? t.matmul_bf16_lowp : t.matmul_bf16;
  fn(xs.data(), m, k, ws.data(), n, with_bias ? bs.data() : nullptr, y.data(), pool);
  std::vector<double> ref, mag;
  exact_matmul(x, m, k, w, n, with_bias ? bias.data() : nullptr, lowp, &ref, &mag);
  ASSERT_TRUE(y.guards_ok(m * n)) << t.name << " wrote outside y: m=" << m << " k=" << k
                                  << " n=" << n;
  for (size_t i = 0; i < m * n; ++i) {
    ASSERT_NEAR(y.data()[i], ref[i], 1e-5 * mag[i] + 1e-30)
        << t.name << (lowp ? " lowp" : " exact") << " m=" << m << " k=" << k << " n=" << n << " at "
        << i / n << "," << i % n;
  }
}

TEST(Matmul, AllTablesMatchExactMathOnAwkwardShapes) {
  std::mt19937 rng(1);
  ThreadPool pool(2);
  const size_t ks[] = {0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100};
  const size_t ns[] = {1, 3, 4, 5, 15, 16, 17, 33};
  const size_t ms[] = {1, 2, 3, 4, 5, 7, 9};
  for (const KernelTable* t : testing::all_tables())
    for (bool lowp : {false, true})
      for (size_t k : ks)
        for (size_t n : ns)
          for (size_t m : ms) {
            size_t off = (k + n + m) % 2;  // misaligned by one element half the time
            check_matmul(*t, lowp, m, k, n, (k + m) % 3 != 0, off, (n % 2) ? &pool : nullptr, rng);
          }
}

TEST(Matmul, RealShapes) {
  std::mt19937 rng(2);
  ThreadPool pool(2);
  for (const KernelTable* t : testing::all_tables())
    for (bool lowp : {false, true}) {
      check_matmul(*t, lowp, 3, 896, 40, true, 0, &pool, rng);
      check_matmul(*t, lowp, 2, 4864, 20, false, 1, &pool, rng);
      // Prefill-sized x (m * k >= 64K): the bf16 rounding of x is split over
      // the pool too.
      check_matmul(*t, lowp, 75, 896, 24, true, 0, &pool, rng);
      check_matmul(*t, lowp, 13, 4869, 9, true, 1, &pool, rng);  // k-blocked, odd k
    }
}

// The low-precision ref is the exact ref applied to bf16-rounded x, bitwise.
TEST(Matmul, LowpRefIsExactRefOnRoundedX) {
  std::mt19937 rng(3);
  size_t m = 3, k = 77, n = 9;
  auto x = testing::random_floats(m * k, rng);
  auto w = testing::random_bf16(n * k, rng);
  std::vector<float> xr(x.size()), y1(m * n), y2(m * n);
  for (size_t i = 0; i < x.size(); ++i) xr[i] = bf16_to_f32(f32_to_bf16(x[i]));
  ref().matmul_bf16_lowp(x.data(), m, k, w.data(), n, nullptr, y1.data(), nullptr);
  ref().matmul_bf16(xr.data(), m, k, w.data(), n, nullptr, y2.data(), nullptr);
  EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4));
  // And rounding matters: the exact path on unrounded x differs somewhere.
  ref().matmul_bf16(x.data(), m, k, w.data(), n, nullptr, y2.data(), nullptr);
  EXPECT_NE(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4));
}

// y[i][j] must not depend on m, the row's place in the batch, or the threads.
TEST(Matmul, BitwiseBatchInvariance) {
  std::mt19937 rng(4);
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  const size_t total = 41, n = 70;
  // 2100 > 2 * 1024: batches of 6+ rows take the k-blocked GEMM path, whose
  // last block ends in a partial chunk.
  for (size_t k : {64, 100, 896, 2100}) {
    auto x = testing::random_floats(total * k, rng);
    auto w = testing::random_bf16(n * k, rng);
    auto bias = testing::random_floats(n, rng);
    for (const KernelTable* t : testing::all_tables())
      for (bool lowp : {false, true}) {
        MatmulFn fn = lowp ? t->matmul_bf16_lowp : t->matmul_bf16;
        std::vector<float> alone(total * n), batch(total * n);
        for (size_t i = 0; i < total; ++i)
          fn(x.data() + i * k, 1, k, w.data(), n, bias.data(), alone.data() + i * n, nullptr);
        for (size_t m = 1; m <= 37; ++m)
          for (ThreadPool* p : pools) {
            size_t start = m % 5;  // shifts rows to other positions within the tiles
            fn(x.data() + start * k, m, k, w.data(), n, bias.data(), batch.data(), p);
            ASSERT_EQ(0, std::memcmp(batch.data(), alone.data() + start * n, m * n * 4))
                << t->name << (lowp ? " lowp" : " exact") << " k=" << k << " m=" << m
                << " threads=" << (p ? p->num_threads() : 1);
          }
      }
  }
}

// W at every 2-byte offset within a 64-byte line (safetensors tensors start
// wherever the header ends), butted against inaccessible pages on both sides:
// the GEMV and the small-batch tiles assemble chunks from aligned lines, so
// they must neither read outside W nor change a single bit against each
// other or the GEMM tiles that use plain loads.
TEST(Matmul, GemvOnRowsAtEveryLineOffsetIsExactAndInBounds) {
  std::mt19937 rng(5);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t k : {32, 96, 100, 896}) {
    const size_t n = 9, m = 7, bytes = n * k * 2;
    auto w = testing::random_bf16(n * k, rng);
    auto x = testing::random_floats(m * k, rng);
    const size_t span = (bytes + 64 + page - 1) / page * page;
    // [guard page][span][guard page]
    auto* base = static_cast<uint8_t*>(
        mmap(nullptr, span + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(base, MAP_FAILED);
    ASSERT_EQ(0, mprotect(base + page, span, PROT_READ | PROT_WRITE));
    for (size_t off = 0; off < 64; off += 2) {
      // Alternately flush with the start and with the end of the readable span.
      uint8_t* at = off % 4 == 0 ? base + page + off : base + page + span - bytes - off;
      std::memcpy(at, w.data(), bytes);
      const auto* wp = reinterpret_cast<const uint16_t*>(at);
      for (const KernelTable* t : testing::all_tables()) {
        std::vector<float> batch(m * n), alone(m * n);
        for (size_t i = 0; i < m; ++i)
          t->matmul_bf16_lowp(x.data() + i * k, 1, k, wp, n, nullptr, alone.data() + i * n,
                              nullptr);
        // 2..5 rows: the small-batch tiles; 7: a GEMM tile plus a GEMV row.
        for (size_t mb : {2, 3, 4, 5, 7}) {
          t->matmul_bf16_lowp(x.data(), mb, k, wp, n, nullptr, batch.data(), nullptr);
          ASSERT_EQ(0, std::memcmp(alone.data(), batch.data(), mb * n * 4))
              << t->name << " k=" << k << " offset=" << off << " batch " << mb;
        }
        std::vector<double> ref, mag;
        exact_matmul(x, m, k, w, n, nullptr, true, &ref, &mag);
        for (size_t i = 0; i < m * n; ++i)
          ASSERT_NEAR(batch[i], ref[i], 1e-5 * mag[i] + 1e-30) << t->name << " offset=" << off;
      }
    }
    munmap(base, span + 2 * page);
  }
}

// W on 64-byte lines and k a multiple of 32 up to 896: the AVX-512 GEMV keeps
// x in registers (one specialisation per chunk count). Every chunk count, on
// both sides of the limit, must give the bits of the batched tiles and the
// exact sums, with a thread split and a last tile past the end of W.
TEST(Matmul, GemvWithAlignedRowsMatchesTilesForEveryChunkCount) {
  std::mt19937 rng(6);
  ThreadPool pool(2);
  for (size_t k = 32; k <= 928; k += 32) {
    const size_t n = k % 64 == 0 ? 37 : 6, m = 7;
    auto wv = testing::random_bf16(n * k, rng);
    AlignedVec<uint16_t> w(n * k);
    std::memcpy(w.data(), wv.data(), n * k * 2);
    auto x = testing::random_floats(m * k, rng);
    auto bias = testing::random_floats(n, rng);
    for (const KernelTable* t : testing::all_tables()) {
      std::vector<float> alone(m * n), batch(m * n);
      for (size_t i = 0; i < m; ++i)
        t->matmul_bf16_lowp(x.data() + i * k, 1, k, w.data(), n, bias.data(), alone.data() + i * n,
                            k % 64 == 0 ? &pool : nullptr);
      t->matmul_bf16_lowp(x.data(), m, k, w.data(), n, bias.data(), batch.data(), nullptr);
      ASSERT_EQ(0, std::memcmp(alone.data(), batch.data(), m * n * 4)) << t->name << " k=" << k;
      std::vector<double> ref, mag;
      exact_matmul(x, m, k, wv, n, bias.data(), true, &ref, &mag);
      for (size_t i = 0; i < m * n; ++i)
        ASSERT_NEAR(alone[i], ref[i], 1e-5 * mag[i] + 1e-30) << t->name << " k=" << k;
    }
  }
}

TEST(Matmul, TablesExist) {
  auto tables = testing::all_tables();
  ASSERT_GE(tables.size(), 1u);
  EXPECT_STREQ(tables[0]->name, "ref");
  EXPECT_NE(get().matmul_bf16_lowp, nullptr);
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512bf16")) {
    EXPECT_STREQ(tables.back()->name, "avx512");
  }
#endif
}

}  // namespace
}  // namespace qs::kernels
