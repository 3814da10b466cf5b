// Attention of every table (ref included) vs a naive full-softmax reference
// over a paged cache with shuffled, non-contiguous block tables.
#include <algorithm>
#include <numeric>

#include "core/thread_pool.h"
#include "test_util.h"

namespace qs::kernels {
namespace {

struct Cache {
  std::vector<uint8_t> k, v;
  PagedKV kv;
};

float read(const Cache& c, const std::vector<uint8_t>& buf, size_t elem) {
  if (c.kv.dtype == DType::BF16) {
    uint16_t h;
    std::memcpy(&h, buf.data() + elem * 2, 2);
    return bf16_to_f32(h);
  }
  float f;
  std::memcpy(&f, buf.data() + elem * 4, 4);
  return f;
}

// Scores for all positions, then one softmax, in double.
void naive_attention(const float* q, size_t rows, size_t q_stride, size_t num_heads,
                     const std::vector<std::vector<int32_t>>& tables,
                     const std::vector<int32_t>& ctx, const Cache& c, float scale,
                     std::vector<double>* out) {
  const PagedKV& kv = c.kv;
  const size_t hd = kv.head_dim, group = num_heads / kv.num_kv_heads;
  out->assign(rows * num_heads * hd, 0.0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t h = 0; h < num_heads; ++h) {
      const size_t g = h / group;
      std::vector<double> s(ctx[r]);
      auto elem = [&](int32_t p, size_t i) {
        size_t slot =
            static_cast<size_t>(tables[r][p / kv.block_size]) * kv.block_size + p % kv.block_size;
        return (slot * kv.num_kv_heads + g) * hd + i;
      };
      for (int32_t p = 0; p < ctx[r]; ++p) {
        double d = 0;
        for (size_t i = 0; i < hd; ++i)
          d += q[r * q_stride + h * hd + i] * read(c, c.k, elem(p, i));
        s[p] = d * scale;
      }
      double mx = *std::max_element(s.begin(), s.end()), sum = 0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int32_t p = 0; p < ctx[r]; ++p)
        for (size_t i = 0; i < hd; ++i)
          (*out)[(r * num_heads + h) * hd + i] += s[p] / sum * read(c, c.v, elem(p, i));
    }
}

void run_case(DType dt, size_t num_kv_heads, size_t group, size_t hd, std::mt19937& rng,
              ThreadPool* pool) {
  const size_t bs = 16, num_heads = num_kv_heads * group;
  const std::vector<int32_t> ctx = {1, 2, 15, 16, 17, 33, 48, 70, 5, 64};
  const size_t rows = ctx.size(), max_blocks = 5, total_blocks = rows * max_blocks + 3;
  Cache c;
  const size_t elems = total_blocks * bs * num_kv_heads * hd;
  c.k.resize(elems * dtype_size(dt));
  c.v.resize(elems * dtype_size(dt));
  auto kf = testing::random_floats(elems, rng, -2, 2), vf = testing::random_floats(elems, rng);
  for (size_t i = 0; i < elems; ++i) {
    if (dt == DType::BF16) {
      uint16_t hk = f32_to_bf16(kf[i]), hv = f32_to_bf16(vf[i]);
      std::memcpy(c.k.data() + i * 2, &hk, 2);
      std::memcpy(c.v.data() + i * 2, &hv, 2);
    } else {
      std::memcpy(c.k.data() + i * 4, &kf[i], 4);
      std::memcpy(c.v.data() + i * 4, &vf[i], 4);
    }
  }
  c.kv = PagedKV{c.k.data(), c.v.data(), dt, bs, num_kv_heads, hd};
  // Each row gets its own shuffled, non-contiguous blocks.
  std::vector<int32_t> perm(total_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<std::vector<int32_t>> tables(rows);
  std::vector<AttnRow> info(rows);
  for (size_t r = 0; r < rows; ++r) {
    tables[r].assign(perm.begin() + r * max_blocks, perm.begin() + (r + 1) * max_blocks);
    info[r] = AttnRow{tables[r].data(), ctx[r]};
  }
  const size_t q_stride = num_heads * hd + 7;
  auto q = testing::random_floats(rows * q_stride, rng, -2, 2);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<double> want;
  naive_attention(q.data(), rows, q_stride, num_heads, tables, ctx, c, scale, &want);
  for (const KernelTable* t : testing::all_tables()) {
    testing::Out out(rows * num_heads * hd, 0);
    t->attention(q.data(), rows, q_stride, num_heads, info.data(), c.kv, scale, out.data(), pool);
    ASSERT_TRUE(out.guards_ok(rows * num_heads * hd)) << t->name;
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(out.data()[i], want[i], 2e-5)
          << t->name << " dtype=" << dtype_name(dt) << " group=" << group << " hd=" << hd
          << " row=" << i / (num_heads * hd);
  }
}

TEST(Attention, MatchesNaiveSoftmax) {
  std::mt19937 rng(20);
  ThreadPool pool(2);
  for (DType dt : {DType::F32, DType::BF16})
    for (size_t group : {1, 2, 7})
      for (size_t hd : {8, 16, 64}) {
        run_case(dt, 2, group, hd, rng, nullptr);
        run_case(dt, 2, group, hd, rng, &pool);
      }
  run_case(DType::F32, 1, 3, 24, rng, &pool);  // head_dim no table vectorises
}

}  // namespace
}  // namespace qs::kernels
