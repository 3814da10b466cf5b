// fuse_rows / fuse_biases: joined matrices give bitwise the same outputs as
// their parts, BF16 is joined only when already contiguous, packed parts are
// re-pointed into the joined buffer, and shapes that cannot be joined are not.
#include "model/fused_weights.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"

namespace qs {
namespace {

std::vector<float> random_row_major(size_t n, size_t k, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n * k);
  for (auto& x : v) x = d(rng);
  return v;
}

// y = x . W^T for one matrix, through the dispatched kernels.
std::vector<float> apply(const kernels::WeightMatrix& w, const std::vector<float>& x, size_t m,
                         ThreadPool* pool) {
  const auto& k = kernels::get();
  const size_t n = static_cast<size_t>(w.rows), kk = static_cast<size_t>(w.cols);
  std::vector<float> y(m * n);
  switch (w.format) {
    case kernels::WeightFormat::kBF16:
      k.matmul_bf16_lowp(x.data(), m, kk, static_cast<const uint16_t*>(w.data), n, nullptr,
                         y.data(), pool);
      break;
    case kernels::WeightFormat::kQ8_0:
      k.matmul_q8_0(x.data(), m, kk, w.data, n, nullptr, y.data(), pool);
      break;
    case kernels::WeightFormat::kQ4:
      k.matmul_q4(x.data(), m, kk, w.data, n, static_cast<size_t>(w.group), nullptr, y.data(),
                  pool);
      break;
    case kernels::WeightFormat::kQ5:
      k.matmul_q5(x.data(), m, kk, w.data, n, static_cast<size_t>(w.group), nullptr, y.data(),
                  pool);
      break;
  }
  return y;
}

TEST(FusedWeights, PackedPartsJoinBitwise) {
  std::mt19937 rng(1);
  ThreadPool pool(2);
  const size_t k = 128;
  const size_t part_rows[] = {48, 16, 16};  // q|k|v-like: whole row groups
  for (auto fmt :
       {kernels::WeightFormat::kQ8_0, kernels::WeightFormat::kQ4, kernels::WeightFormat::kQ5}) {
    for (size_t m : {1, 3, 9}) {
      Qwen2Weights w;
      WeightQuantization q;
      q.format = fmt;
      q.group = 32;
      std::vector<kernels::WeightMatrix> parts;
      for (size_t n : part_rows) {
        auto src = random_row_major(n, k, rng);
        auto p = pack_weight_matrix(
            n, k, q, [&](size_t j, float* out) { std::copy_n(&src[j * k], k, out); }, &w);
        ASSERT_TRUE(p.ok()) << p.status().message();
        parts.push_back(p.value());
      }
      const auto x = random_row_major(m, k, rng);
      std::vector<std::vector<float>> alone;
      for (const auto& p : parts) alone.push_back(apply(p, x, m, &pool));
      const size_t owned_before = w.owned_bytes.size();
      kernels::WeightMatrix f = fuse_rows({&parts[0], &parts[1], &parts[2]}, &w);
      ASSERT_NE(f.data, nullptr);
      EXPECT_EQ(f.rows, 80);
      EXPECT_EQ(w.owned_bytes.size(), owned_before - 2);  // 3 part buffers -> 1 joined
      const auto joined = apply(f, x, m, &pool);
      size_t col = 0;
      for (size_t pi = 0; pi < parts.size(); ++pi) {
        // The re-pointed part still computes its own rows.
        EXPECT_EQ(apply(parts[pi], x, m, &pool), alone[pi]);
        for (size_t i = 0; i < m; ++i)
          ASSERT_EQ(0, std::memcmp(&joined[i * 80 + col], &alone[pi][i * part_rows[pi]],
                                   part_rows[pi] * 4))
              << "format " << static_cast<int>(fmt) << " part " << pi << " row " << i;
        col += part_rows[pi];
      }
    }
  }
}

TEST(FusedWeights, PackedPartsOffRowGroupsAreNotJoined) {
  std::mt19937 rng(2);
  Qwen2Weights w;
  WeightQuantization q;
  q.format = kernels::WeightFormat::kQ8_0;
  std::vector<kernels::WeightMatrix> parts;
  for (size_t n : {20, 16}) {  // 20 rows: the first part ends inside a row group
    auto src = random_row_major(n, 64, rng);
    parts.push_back(
        pack_weight_matrix(
            n, 64, q, [&](size_t j, float* out) { std::copy_n(&src[j * 64], 64, out); }, &w)
            .value());
  }
  EXPECT_EQ(fuse_rows({&parts[0], &parts[1]}, &w).data, nullptr);
  EXPECT_EQ(w.owned_bytes.size(), 2u);
}

TEST(FusedWeights, Bf16JoinsOnlyWhenContiguous) {
  std::vector<uint16_t> mem(10 * 8 + 8);
  kernels::WeightMatrix a, b;
  a.data = mem.data();
  a.rows = 4;
  a.cols = 8;
  a.bytes = 4 * 8 * 2;
  b = a;
  b.rows = 6;
  b.bytes = 6 * 8 * 2;
  Qwen2Weights w;
  b.data = mem.data() + 4 * 8;  // right after a
  kernels::WeightMatrix f = fuse_rows({&a, &b}, &w);
  EXPECT_EQ(f.data, a.data);
  EXPECT_EQ(f.rows, 10);
  EXPECT_EQ(f.bytes, 10u * 8 * 2);
  b.data = mem.data() + 4 * 8 + 8;  // a gap: never copied
  EXPECT_EQ(fuse_rows({&a, &b}, &w).data, nullptr);
  b.data = mem.data() + 4 * 8;
  b.cols = 4;  // different widths
  EXPECT_EQ(fuse_rows({&a, &b}, &w).data, nullptr);
  EXPECT_TRUE(w.owned_bytes.empty());
}

TEST(FusedWeights, BiasesJoinWithZerosForMissingParts) {
  Qwen2Weights w;
  const float q[] = {1, 2, 3}, v[] = {7};
  const float* f = fuse_biases({q, nullptr, v}, {3, 2, 1}, &w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(std::vector<float>(f, f + 6), (std::vector<float>{1, 2, 3, 0, 0, 7}));
  EXPECT_EQ(fuse_biases({nullptr, nullptr}, {3, 2}, &w), nullptr);
}

}  // namespace
}  // namespace qs
