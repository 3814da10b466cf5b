// Attention of every table (ref included) vs a naive full-softmax reference
// over a paged cache with shuffled, non-contiguous block tables; the INT8 KV
// cache (kv_store quantizing, attention dequantizing on the fly) against ref,
// the dequantized values and the BF16 cache.
#include <algorithm>
#include <numeric>

#include "core/thread_pool.h"
#include "kernels/ref/ref_ops.h"
#include "test_util.h"

namespace qs::kernels {
namespace {

struct Cache {
  std::vector<uint8_t> k, v;
  std::vector<float> k_scale, v_scale;  // I8 only: [slots][num_kv_heads]
  PagedKV kv;
};

// The value the cache holds at element `elem` (I8: code * scale of its vector).
float read(const Cache& c, bool is_k, size_t elem) {
  const std::vector<uint8_t>& buf = is_k ? c.k : c.v;
  if (c.kv.dtype == DType::BF16) {
    uint16_t h;
    std::memcpy(&h, buf.data() + elem * 2, 2);
    return bf16_to_f32(h);
  }
  if (c.kv.dtype == DType::I8) {
    const float s = (is_k ? c.k_scale : c.v_scale)[elem / c.kv.head_dim];
    return s * static_cast<float>(static_cast<int8_t>(buf[elem]));
  }
  float f;
  std::memcpy(&f, buf.data() + elem * 4, 4);
  return f;
}

// Fills a cache of `dt` with the values kf, vf ([slots][num_kv_heads][hd] floats)
// through ref's kv_store (I8: quantized, as the model stores them).
Cache make_cache(DType dt, size_t bs, size_t num_kv_heads, size_t hd, const std::vector<float>& kf,
                 const std::vector<float>& vf) {
  Cache c;
  const size_t elems = kf.size(), width = num_kv_heads * hd, slots = elems / width;
  c.k.resize(elems * dtype_size(dt));
  c.v.resize(elems * dtype_size(dt));
  if (dt == DType::I8) {
    c.k_scale.assign(slots * num_kv_heads, -1.0f);
    c.v_scale.assign(slots * num_kv_heads, -1.0f);
  }
  c.kv =
      PagedKV{c.k.data(), c.v.data(), dt, bs, num_kv_heads, hd, c.k_scale.data(), c.v_scale.data()};
  std::vector<int64_t> all(slots);
  std::iota(all.begin(), all.end(), 0);
  ref().kv_store(kf.data(), vf.data(), slots, width, all.data(), c.kv);
  return c;
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
          d += q[r * q_stride + h * hd + i] * read(c, true, elem(p, i));
        s[p] = d * scale;
      }
      double mx = *std::max_element(s.begin(), s.end()), sum = 0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int32_t p = 0; p < ctx[r]; ++p)
        for (size_t i = 0; i < hd; ++i)
          (*out)[(r * num_heads + h) * hd + i] += s[p] / sum * read(c, false, elem(p, i));
    }
}

// Context lengths: single position, block edges 15/16/17, partial blocks, 100.
const std::vector<int32_t> kCtx = {1, 2, 15, 16, 17, 33, 48, 70, 5, 64, 100};
constexpr size_t kMaxBlocks = 7;  // per row: 100 positions

struct Problem {
  size_t num_kv_heads, group, hd, num_heads, rows, total_blocks, q_stride;
  std::vector<float> kf, vf, q;
  std::vector<std::vector<int32_t>> tables;
  std::vector<AttnRow> info;
  float scale;
};

Problem make_problem(size_t num_kv_heads, size_t group, size_t hd, std::mt19937& rng) {
  Problem p;
  const size_t bs = 16;
  p.num_kv_heads = num_kv_heads;
  p.group = group;
  p.hd = hd;
  p.num_heads = num_kv_heads * group;
  p.rows = kCtx.size();
  p.total_blocks = p.rows * kMaxBlocks + 3;
  const size_t elems = p.total_blocks * bs * num_kv_heads * hd;
  p.kf = testing::random_floats(elems, rng, -2, 2);
  p.vf = testing::random_floats(elems, rng);
  // Each row gets its own shuffled, non-contiguous blocks.
  std::vector<int32_t> perm(p.total_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  p.tables.resize(p.rows);
  p.info.resize(p.rows);
  for (size_t r = 0; r < p.rows; ++r) {
    p.tables[r].assign(perm.begin() + r * kMaxBlocks, perm.begin() + (r + 1) * kMaxBlocks);
    p.info[r] = AttnRow{p.tables[r].data(), kCtx[r]};
  }
  p.q_stride = p.num_heads * hd + 7;
  p.q = testing::random_floats(p.rows * p.q_stride, rng, -2, 2);
  p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  return p;
}

// Every table against the naive softmax over the values the cache holds
// (for I8: the dequantized values, so this checks the on-the-fly dequantization).
void run_case(DType dt, size_t num_kv_heads, size_t group, size_t hd, std::mt19937& rng,
              ThreadPool* pool) {
  Problem p = make_problem(num_kv_heads, group, hd, rng);
  Cache c = make_cache(dt, 16, num_kv_heads, hd, p.kf, p.vf);
  std::vector<double> want;
  naive_attention(p.q.data(), p.rows, p.q_stride, p.num_heads, p.tables, kCtx, c, p.scale, &want);
  // attention_lowp is defined on q' = bf16(q * scale) with scale 1.
  std::vector<float> rounded;
  const size_t width = p.num_heads * hd;
  ref_ops::round_scaled_q(p.q.data(), p.rows, p.q_stride, width, p.scale, &rounded);
  std::vector<double> want_lowp;
  naive_attention(rounded.data(), p.rows, width, p.num_heads, p.tables, kCtx, c, 1.0f, &want_lowp);
  for (const KernelTable* t : testing::all_tables()) {
    for (bool lowp : {false, true}) {
      const size_t n = p.rows * p.num_heads * hd;
      testing::Out out(n, 0);
      (lowp ? t->attention_lowp : t->attention)(p.q.data(), p.rows, p.q_stride, p.num_heads,
                                                p.info.data(), c.kv, p.scale, out.data(), pool);
      ASSERT_TRUE(out.guards_ok(n)) << t->name;
      const std::vector<double>& w = lowp ? want_lowp : want;
      for (size_t i = 0; i < w.size(); ++i)
        ASSERT_NEAR(out.data()[i], w[i], 2e-5)
            << t->name << (lowp ? " lowp" : "") << " dtype=" << dtype_name(dt) << " group=" << group
            << " hd=" << hd << " row=" << i / (p.num_heads * hd);
    }
  }
}

TEST(Attention, MatchesNaiveSoftmax) {
  std::mt19937 rng(20);
  ThreadPool pool(2);
  for (DType dt : {DType::F32, DType::BF16, DType::I8})
    for (size_t group : {1, 2, 7})
      for (size_t hd : {8, 16, 64}) {
        run_case(dt, 2, group, hd, rng, nullptr);
        run_case(dt, 2, group, hd, rng, &pool);
      }
  run_case(DType::F32, 1, 3, 24, rng, &pool);  // head_dim no AVX-512 table vectorises
  run_case(DType::I8, 1, 3, 24, rng, &pool);
  run_case(DType::I8, 3, 16, 128, rng, &pool);  // the largest group
}

// Prefill-like batches: runs of rows of one sequence (one block table,
// consecutive positions, as a prefill chunk gives them), which the SIMD
// tables process in tiles sharing each K/V chunk, between rows of other
// sequences. Every table matches the naive softmax, and every row's output
// is bitwise the one it gets when it is attended alone (batch invariance).
TEST(Attention, RowsOfOneSequenceMatchAloneBitwise) {
  std::mt19937 rng(23);
  ThreadPool pool(2);
  for (DType dt : {DType::F32, DType::BF16, DType::I8})
    for (size_t hd : {16, 32, 64, 128}) {
      const size_t kvh = 2, group = 7, num_heads = kvh * group, bs = 16;
      // Sequence A: 21 rows at positions 20..40 (a chunk after a prefix: a
      // full tile of the AVX-512 table and a partial one); one row of B at
      // position 4; sequence A again (rows 44..49: a second chunk); then 3
      // decode rows of C, D, E.
      std::vector<std::vector<int32_t>> seq_tables = {{3, 0, 5, 1}, {2}, {4}, {6}, {7}};
      struct Row {
        size_t seq;
        int32_t pos;
      };
      std::vector<Row> rows_spec;
      for (int32_t p = 20; p < 41; ++p) rows_spec.push_back({0, p});
      rows_spec.push_back({1, 4});
      for (int32_t p = 44; p < 50; ++p) rows_spec.push_back({0, p});
      rows_spec.push_back({2, 0});
      rows_spec.push_back({3, 15});
      rows_spec.push_back({4, 9});
      const size_t rows = rows_spec.size(), blocks = 8;
      const size_t elems = blocks * bs * kvh * hd;
      auto kf = testing::random_floats(elems, rng, -2, 2);
      auto vf = testing::random_floats(elems, rng);
      Cache c = make_cache(dt, bs, kvh, hd, kf, vf);
      const size_t q_stride = num_heads * hd + 3;
      auto q = testing::random_floats(rows * q_stride, rng, -2, 2);
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      std::vector<std::vector<int32_t>> tables;
      std::vector<int32_t> ctx;
      std::vector<AttnRow> info;
      for (const Row& r : rows_spec) {
        tables.push_back(seq_tables[r.seq]);
        ctx.push_back(r.pos + 1);
      }
      for (size_t r = 0; r < rows; ++r)  // rows of a sequence share one table pointer
        info.push_back(AttnRow{seq_tables[rows_spec[r].seq].data(), ctx[r]});
      std::vector<double> want;
      naive_attention(q.data(), rows, q_stride, num_heads, tables, ctx, c, scale, &want);
      const size_t per_row = num_heads * hd;
      std::vector<float> rounded;
      ref_ops::round_scaled_q(q.data(), rows, q_stride, per_row, scale, &rounded);
      std::vector<double> want_lowp;
      naive_attention(rounded.data(), rows, per_row, num_heads, tables, ctx, c, 1.0f, &want_lowp);
      for (const KernelTable* t : testing::all_tables()) {
        for (bool lowp : {false, true}) {
          const auto fn = lowp ? t->attention_lowp : t->attention;
          const std::vector<double>& w = lowp ? want_lowp : want;
          std::vector<float> all(rows * per_row), alone(per_row);
          fn(q.data(), rows, q_stride, num_heads, info.data(), c.kv, scale, all.data(), &pool);
          for (size_t i = 0; i < w.size(); ++i)
            ASSERT_NEAR(all[i], w[i], 2e-5)
                << t->name << (lowp ? " lowp" : "") << " dtype=" << dtype_name(dt) << " hd=" << hd
                << " row=" << i / per_row;
          for (size_t r = 0; r < rows; ++r) {
            fn(q.data() + r * q_stride, 1, q_stride, num_heads, &info[r], c.kv, scale, alone.data(),
               nullptr);
            ASSERT_EQ(0, std::memcmp(alone.data(), all.data() + r * per_row, per_row * 4))
                << t->name << (lowp ? " lowp" : "") << " dtype=" << dtype_name(dt) << " hd=" << hd
                << " row=" << r;
          }
        }
      }
    }
}

// kv_store into an I8 cache: every table writes bitwise ref's codes and scales,
// ref follows the format (scale = max|x|/127, |x - scale*c| <= scale/2), padding
// rows and other slots are untouched.
TEST(Attention, KvStoreInt8) {
  std::mt19937 rng(21);
  for (size_t hd : {8, 13, 16, 24, 64, 128}) {
    const size_t kvh = 2, width = kvh * hd, slots_n = 4 * 16, stride = width + 5, rows = 6;
    auto k = testing::random_floats(rows * stride, rng, -3, 3);
    auto v = testing::random_floats(rows * stride, rng, -1e-3f, 1e-3f);
    for (size_t i = 0; i < hd; ++i) k[i] = 0.0f;  // row 0, head 0: all zero (scale 0)
    k[stride + 3] = 1e4f;                         // row 1: one huge value
    for (size_t i = 0; i < hd; ++i)
      v[2 * stride + i] = (i % 2 ? 2.5f : -2.5f);  // every value at +-max
    const std::vector<int64_t> slots = {17, 0, -1, 63, 5, 40};
    auto fresh = [&] {
      Cache c;
      c.k.assign(slots_n * width, 0xAB);
      c.v.assign(slots_n * width, 0xAB);
      c.k_scale.assign(slots_n * kvh, -7.0f);
      c.v_scale.assign(slots_n * kvh, -7.0f);
      c.kv = PagedKV{c.k.data(), c.v.data(), DType::I8,        16,
                     kvh,        hd,         c.k_scale.data(), c.v_scale.data()};
      return c;
    };
    Cache want = fresh();
    ref().kv_store(k.data(), v.data(), rows, stride, slots.data(), want.kv);
    // The format, checked on ref.
    for (size_t r = 0; r < rows; ++r) {
      if (slots[r] < 0) continue;
      const size_t s = static_cast<size_t>(slots[r]);
      for (size_t g = 0; g < kvh; ++g)
        for (int which = 0; which < 2; ++which) {
          const float* x = (which ? v.data() : k.data()) + r * stride + g * hd;
          float amax = 0;
          for (size_t i = 0; i < hd; ++i) amax = std::max(amax, std::fabs(x[i]));
          const float sc = (which ? want.v_scale : want.k_scale)[s * kvh + g];
          ASSERT_EQ(sc, amax / 127.0f) << "hd=" << hd << " r=" << r;
          for (size_t i = 0; i < hd; ++i) {
            const int8_t code =
                static_cast<int8_t>((which ? want.v : want.k)[(s * kvh + g) * hd + i]);
            ASSERT_GE(code, -127);
            ASSERT_LE(std::fabs(x[i] - sc * code), sc * 0.5f * (1 + 1e-5f) + 1e-30f)
                << "hd=" << hd << " r=" << r << " i=" << i;
          }
        }
    }
    for (size_t s = 0; s < slots_n; ++s)
      if (std::find(slots.begin(), slots.end(), static_cast<int64_t>(s)) == slots.end()) {
        ASSERT_EQ(want.k[s * width], 0xAB);
        ASSERT_EQ(want.v_scale[s * kvh], -7.0f);
      }
    for (const KernelTable* t : testing::simd_tables()) {
      Cache got = fresh();
      t->kv_store(k.data(), v.data(), rows, stride, slots.data(), got.kv);
      ASSERT_EQ(got.k, want.k) << t->name << " hd=" << hd;
      ASSERT_EQ(got.v, want.v) << t->name << " hd=" << hd;
      ASSERT_EQ(0, std::memcmp(got.k_scale.data(), want.k_scale.data(), got.k_scale.size() * 4))
          << t->name << " hd=" << hd;
      ASSERT_EQ(0, std::memcmp(got.v_scale.data(), want.v_scale.data(), got.v_scale.size() * 4))
          << t->name << " hd=" << hd;
    }
  }
}

// A bound on |attention(K', V') - attention(K, V)| for one (row, head) when
// every K' element is within dk of K's and every V' element within dv of V's:
// the scores move by at most ds = scale * sum_i |q_i| * dk, so each softmax
// weight moves by a factor within [exp(-2 ds), exp(2 ds)] and
//   |out' - out| <= dv + (exp(2 ds) - 1) * max|v|.
double perturbation_bound(const float* q, size_t hd, float scale, double dk, double dv,
                          double vmax) {
  double qabs = 0;
  for (size_t i = 0; i < hd; ++i) qabs += std::fabs(q[i]);
  return dv + std::expm1(2.0 * scale * qabs * dk) * vmax;
}

// INT8 against the BF16 cache (and both against the exact values): within the
// sum of their perturbation bounds (INT8: dk = max scale_k / 2 over the row's
// positions; BF16: dk = max|k| * 2^-8, its unit roundoff), per (row, head), on the 0.5B head shape.
TEST(Attention, Int8CloseToBf16) {
  std::mt19937 rng(22);
  ThreadPool pool(2);
  for (size_t group : {1, 7}) {
    const size_t kvh = 2, hd = 64;
    Problem p = make_problem(kvh, group, hd, rng);
    Cache c32 = make_cache(DType::F32, 16, kvh, hd, p.kf, p.vf);
    Cache cbf = make_cache(DType::BF16, 16, kvh, hd, p.kf, p.vf);
    Cache ci8 = make_cache(DType::I8, 16, kvh, hd, p.kf, p.vf);
    std::vector<double> exact;
    naive_attention(p.q.data(), p.rows, p.q_stride, p.num_heads, p.tables, kCtx, c32, p.scale,
                    &exact);
    const size_t n = p.rows * p.num_heads * hd;
    double worst_i8 = 0, worst_bf = 0, worst_ratio = 0;
    for (const KernelTable* t : testing::all_tables()) {
      std::vector<float> o8(n), obf(n);
      t->attention(p.q.data(), p.rows, p.q_stride, p.num_heads, p.info.data(), ci8.kv, p.scale,
                   o8.data(), &pool);
      t->attention(p.q.data(), p.rows, p.q_stride, p.num_heads, p.info.data(), cbf.kv, p.scale,
                   obf.data(), &pool);
      for (size_t r = 0; r < p.rows; ++r)
        for (size_t h = 0; h < p.num_heads; ++h) {
          const size_t g = h / group;
          double dk8 = 0, dv8 = 0, kmax = 0, vmax = 0;
          for (int32_t pos = 0; pos < kCtx[r]; ++pos) {
            dk8 = std::max<double>(
                dk8, ref_ops::kv_scale(ci8.kv.k_scale, ci8.kv, p.tables[r].data(), pos, g) / 2);
            dv8 = std::max<double>(
                dv8, ref_ops::kv_scale(ci8.kv.v_scale, ci8.kv, p.tables[r].data(), pos, g) / 2);
            const size_t slot = static_cast<size_t>(p.tables[r][pos / 16]) * 16 + pos % 16;
            for (size_t i = 0; i < hd; ++i) {
              kmax = std::max<double>(kmax, std::fabs(p.kf[(slot * kvh + g) * hd + i]));
              vmax = std::max<double>(vmax, std::fabs(p.vf[(slot * kvh + g) * hd + i]));
            }
          }
          const float* qh = p.q.data() + r * p.q_stride + h * hd;
          const double b8 = perturbation_bound(qh, hd, p.scale, dk8, dv8, vmax) + 1e-5;
          const double bbf =
              perturbation_bound(qh, hd, p.scale, kmax / 256, vmax / 256, vmax) + 1e-5;
          for (size_t i = 0; i < hd; ++i) {
            const size_t at = (r * p.num_heads + h) * hd + i;
            const double e8 = std::fabs(o8[at] - exact[at]), ebf = std::fabs(obf[at] - exact[at]);
            const double d = std::fabs(static_cast<double>(o8[at]) - obf[at]);
            ASSERT_LE(e8, b8) << t->name << " row " << r << " head " << h;
            ASSERT_LE(ebf, bbf) << t->name << " row " << r << " head " << h;
            ASSERT_LE(d, b8 + bbf) << t->name << " row " << r << " head " << h;
            worst_i8 = std::max(worst_i8, e8);
            worst_bf = std::max(worst_bf, ebf);
            worst_ratio = std::max(worst_ratio, e8 / b8);
          }
        }
    }
    std::printf(
        "group %zu: max |int8 - exact| %.2e, max |bf16 - exact| %.2e, int8 error / bound "
        "<= %.2f\n",
        group, worst_i8, worst_bf, worst_ratio);
  }
}

}  // namespace
}  // namespace qs::kernels
