// Elementwise ops: every SIMD table vs ref at sizes around the vector widths,
// misaligned by one element, with guards after the outputs.
#include <algorithm>

#include "test_util.h"

namespace qs::kernels {
namespace {

using testing::Out;
using testing::Shifted;

const size_t kSizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 896};

TEST(Ops, RmsNormRefMatchesFormula) {
  std::vector<float> x = {1.0f, -2.0f, 3.0f, 0.5f}, w = {1.0f, 2.0f, 0.5f, -1.0f}, y(4);
  ref().rmsnorm(x.data(), w.data(), 1, 4, 1e-6f, y.data());
  double ms = (1 + 4 + 9 + 0.25) / 4.0;
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(y[i], x[i] / std::sqrt(ms + 1e-6) * w[i], 1e-6);
}

TEST(Ops, RmsNorm) {
  std::mt19937 rng(10);
  for (const KernelTable* t : testing::simd_tables())
    for (size_t dim : kSizes)
      for (size_t rows : {1, 3})
        for (size_t off : {0, 1}) {
          auto x = testing::random_floats(rows * dim, rng, -3, 3);
          auto w = testing::random_floats(dim, rng);
          Shifted<float> xs(x, off), ws(w, off);
          Out y(rows * dim, off), yr(rows * dim, off);
          t->rmsnorm(xs.data(), ws.data(), rows, dim, 1e-6f, y.data());
          ref().rmsnorm(xs.data(), ws.data(), rows, dim, 1e-6f, yr.data());
          ASSERT_TRUE(y.guards_ok(rows * dim)) << t->name << " dim=" << dim;
          for (size_t i = 0; i < rows * dim; ++i)
            ASSERT_NEAR(y.data()[i], yr.data()[i], 1e-5 * std::fabs(yr.data()[i]) + 1e-6)
                << t->name << " dim=" << dim;
          // In place (y aliases x).
          Shifted<float> xin(x, off);
          t->rmsnorm(xin.data(), ws.data(), rows, dim, 1e-6f, xin.data());
          for (size_t i = 0; i < rows * dim; ++i)
            ASSERT_NEAR(xin.data()[i], yr.data()[i], 1e-5 * std::fabs(yr.data()[i]) + 1e-6);
        }
}

TEST(Ops, RopeRefRotatesHalves) {
  // head_dim 4: pairs (0,2) and (1,3); position 1, inv_freq {pi/2, 0}.
  std::vector<float> x = {1, 2, 3, 4};
  float inv_freq[2] = {static_cast<float>(M_PI / 2), 0.0f};
  int32_t pos = 1;
  ref().rope(x.data(), 1, 4, 1, 4, &pos, inv_freq);
  EXPECT_NEAR(x[0], -3, 1e-6);  // 1 cos - 3 sin
  EXPECT_NEAR(x[2], 1, 1e-6);   // 3 cos + 1 sin
  EXPECT_NEAR(x[1], 2, 1e-6);   // angle 0: unchanged
  EXPECT_NEAR(x[3], 4, 1e-6);
}

TEST(Ops, Rope) {
  std::mt19937 rng(11);
  for (const KernelTable* t : testing::simd_tables())
    for (size_t hd : {2, 16, 30, 32, 34, 64, 128})
      for (size_t heads : {1, 3})
        for (size_t rows : {1, 4}) {
          size_t stride = heads * hd + 5;  // rows are not packed
          auto x = testing::random_floats(rows * stride, rng);
          std::vector<float> inv(hd / 2);
          for (size_t i = 0; i < hd / 2; ++i)
            inv[i] = std::pow(1e6f, -2.0f * static_cast<float>(i) / static_cast<float>(hd));
          std::vector<int32_t> pos(rows);
          for (size_t r = 0; r < rows; ++r) pos[r] = static_cast<int32_t>(r * 9973 + 3);
          Shifted<float> a(x, 1), b(x, 1);
          t->rope(a.data(), rows, stride, heads, hd, pos.data(), inv.data());
          ref().rope(b.data(), rows, stride, heads, hd, pos.data(), inv.data());
          for (size_t i = 0; i < x.size(); ++i)
            ASSERT_NEAR(a.data()[i], b.data()[i], 1e-6) << t->name << " hd=" << hd;
          EXPECT_EQ(a.buf.back(), b.buf.back());
        }
}

TEST(Ops, SiluMul) {
  std::mt19937 rng(12);
  for (const KernelTable* t : testing::simd_tables())
    for (size_t n : kSizes)
      for (size_t off : {0, 1}) {
        auto g = testing::random_floats(n, rng, -20, 20);
        auto u = testing::random_floats(n, rng, -2, 2);
        if (n > 3) g[0] = -120.0f, g[1] = 120.0f, g[2] = 0.0f;
        Shifted<float> gs(g, off), us(u, off);
        Out y(n, off), yr(n, off);
        t->silu_mul(gs.data(), us.data(), y.data(), n);
        ref().silu_mul(gs.data(), us.data(), yr.data(), n);
        ASSERT_TRUE(y.guards_ok(n)) << t->name << " n=" << n;
        for (size_t i = 0; i < n; ++i)
          ASSERT_NEAR(y.data()[i], yr.data()[i], 2e-6 * std::fabs(yr.data()[i]) + 1e-30)
              << t->name << " g=" << g[i];
      }
}

TEST(Ops, AddAndEmbeddingAreExact) {
  std::mt19937 rng(13);
  for (const KernelTable* t : testing::simd_tables())
    for (size_t n : kSizes) {
      auto x = testing::random_floats(n, rng), y = testing::random_floats(n, rng);
      Out a(n, 1), b(n, 1);
      std::copy(x.begin(), x.end(), a.data());
      std::copy(x.begin(), x.end(), b.data());
      Shifted<float> ys(y, 1);
      t->add(a.data(), ys.data(), n);
      ref().add(b.data(), ys.data(), n);
      ASSERT_TRUE(a.guards_ok(n));
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), n * 4)) << t->name;

      const size_t vocab = 11, rows = 5;
      auto table = testing::random_bf16(vocab * n, rng);
      Shifted<uint16_t> ts(table, 1);
      std::vector<int32_t> ids = {3, 0, 10, 3, 7};
      Out e(rows * n, 1);
      t->embedding_bf16(ts.data(), n, ids.data(), rows, e.data());
      ASSERT_TRUE(e.guards_ok(rows * n));
      for (size_t r = 0; r < rows; ++r)
        for (size_t i = 0; i < n; ++i)
          ASSERT_EQ(e.data()[r * n + i], bf16_to_f32(table[ids[r] * n + i])) << t->name;
    }
}

TEST(Ops, KvStore) {
  std::mt19937 rng(14);
  for (const KernelTable* t : testing::all_tables())
    for (DType dt : {DType::F32, DType::BF16})
      for (size_t hd : {8, 17, 64}) {
        const size_t kvh = 2, width = kvh * hd, blocks = 4, bs = 16, stride = width + 3;
        const size_t cap = blocks * bs * width;
        std::vector<uint8_t> kb(cap * 4, 0xAB), vb(cap * 4, 0xAB);
        PagedKV kv{kb.data(), vb.data(), dt, bs, kvh, hd};
        auto k = testing::random_floats(5 * stride, rng),
             v = testing::random_floats(5 * stride, rng);
        std::vector<int64_t> slots = {17, 0, -1, 63, 5};
        t->kv_store(k.data(), v.data(), 5, stride, slots.data(), kv);
        size_t esz = dtype_size(dt);
        for (size_t s = 0; s < blocks * bs; ++s) {
          int r = -1;
          for (int i = 0; i < 5; ++i)
            if (slots[i] == static_cast<int64_t>(s)) r = i;
          for (size_t i = 0; i < width; ++i) {
            const uint8_t* pk = kb.data() + (s * width + i) * esz;
            const uint8_t* pv = vb.data() + (s * width + i) * esz;
            if (r < 0) {
              ASSERT_EQ(pk[0], 0xAB) << t->name << " wrote slot " << s;
              ASSERT_EQ(pv[0], 0xAB);
              continue;
            }
            float ek = k[r * stride + i], ev = v[r * stride + i];
            if (dt == DType::BF16) {
              uint16_t hk, hv;
              std::memcpy(&hk, pk, 2);
              std::memcpy(&hv, pv, 2);
              ASSERT_EQ(hk, f32_to_bf16(ek)) << t->name;
              ASSERT_EQ(hv, f32_to_bf16(ev)) << t->name;
            } else {
              float fk, fv;
              std::memcpy(&fk, pk, 4);
              std::memcpy(&fv, pv, 4);
              ASSERT_EQ(fk, ek) << t->name;
              ASSERT_EQ(fv, ev) << t->name;
            }
          }
        }
      }
}

}  // namespace
}  // namespace qs::kernels
