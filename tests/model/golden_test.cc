// The model against the independent PyTorch reference (tools/reference/):
// golden logits in tests/fixtures/golden/*.json, weights rebuilt here from
// (config, seed) by the C++ synthesizer, which must match the Python one bit
// for bit for these tests to pass at all.
//
// Every way of feeding the same tokens must give the reference's logits:
// one pass, prefill then decode, chunked prefill, a ragged batch, a decode
// mixed with another sequence's prefill; and a sequence's logits must be
// bitwise the same alone or inside a batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "model/qwen2_model.h"
#include "synth.h"  // tools/synth

namespace qs {
namespace {

namespace fs = std::filesystem;

struct GoldenCase {
  std::vector<int32_t> prompt, continuation;
  std::vector<double> top2_margin;       // [continuation]
  std::vector<std::vector<float>> rows;  // [prompt+continuation][columns]
  double max_abs_logit = 0;
  std::vector<int32_t> tokens() const {  // the fed tokens: prompt + continuation[:-1]
    std::vector<int32_t> t = prompt;
    t.insert(t.end(), continuation.begin(), continuation.end() - 1);
    return t;
  }
};

struct Golden {
  std::string config;
  uint64_t seed = 0;
  std::vector<int32_t> columns;
  std::vector<GoldenCase> cases;
};

Golden load_golden(const std::string& name) {
  std::ifstream in(std::string(QS_SOURCE_DIR) + "/tests/fixtures/golden/" + name + ".json");
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  auto j = nlohmann::json::parse(in);
  Golden g;
  g.config = j.at("config").get<std::string>();
  g.seed = j.at("seed").get<uint64_t>();
  g.columns = j.at("columns").get<std::vector<int32_t>>();
  for (size_t i = 0; i < j.at("cases").size(); ++i) {
    const auto& c = j["cases"][i];
    GoldenCase gc;
    gc.prompt = c.at("prompt").get<std::vector<int32_t>>();
    gc.continuation = c.at("continuation").get<std::vector<int32_t>>();
    gc.top2_margin = c.at("top2_margin").get<std::vector<double>>();
    gc.rows = c.at("logits").get<std::vector<std::vector<float>>>();
    gc.max_abs_logit = j.at("max_abs_logit")[i].get<double>();
    g.cases.push_back(std::move(gc));
  }
  return g;
}

// Synthesizes each (config, seed) once per test binary run; removed at exit.
std::map<std::string, std::string>& made_dirs() {
  static std::map<std::string, std::string> made;
  return made;
}

class RemoveModelDirs : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& [key, dir] : made_dirs()) fs::remove_all(dir);
  }
};
const auto* const kRemoveModelDirs = ::testing::AddGlobalTestEnvironment(new RemoveModelDirs);

std::string model_dir(const Golden& g) {
  auto& made = made_dirs();
  std::string key = g.config + "-" + std::to_string(g.seed);
  auto it = made.find(key);
  if (it != made.end()) return it->second;
  std::string dir =
      (fs::temp_directory_path() / ("qs-golden-" + std::to_string(::getpid()) + "-" + key))
          .string();
  Status s =
      synth::synthesize_model(std::string(QS_SOURCE_DIR) + "/tools/synth/configs/" + g.config,
                              g.seed, dir, DType::BF16, QS_TOKENIZER_DATA);
  EXPECT_TRUE(s.ok()) << s.message();
  made[key] = dir;
  return dir;
}

std::unique_ptr<Qwen2Model> load(const std::string& dir, MatmulPrecision p, int threads = 2) {
  ModelOptions o;
  o.threads = threads;
  o.precision = p;
  auto m = Qwen2Model::Load(dir, o);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::move(m).value();
}

// Runs batches against one KV cache; each sequence gets its own blocks.
class Runner {
 public:
  Runner(Qwen2Model& m, size_t num_seqs, size_t max_len, DType kv_dtype = DType::F32)
      : m_(m), blocks_per_seq_((max_len + 15) / 16) {
    auto kv = KVCache::Create(m.kv_shape(num_seqs * blocks_per_seq_, 16, kv_dtype));
    EXPECT_TRUE(kv.ok());
    kv_ = std::make_unique<KVCache>(std::move(kv).value());
    // Interleave the sequences' blocks so block tables are not contiguous.
    for (size_t s = 0; s < num_seqs; ++s) {
      tables_.emplace_back();
      for (size_t b = 0; b < blocks_per_seq_; ++b)
        tables_.back().push_back(static_cast<int32_t>(b * num_seqs + (num_seqs - 1 - s)));
    }
  }
  // Adds tokens [from, to) of sequence s; logits for all its rows if all_rows, else the last.
  void add(size_t s, const std::vector<int32_t>& toks, size_t from, size_t to, bool all_rows) {
    size_t first = batch_.num_tokens();
    batch_.add_sequence(toks.data() + from, static_cast<int32_t>(to - from),
                        static_cast<int32_t>(from), tables_[s], !all_rows);
    if (all_rows)
      for (size_t r = first; r < batch_.num_tokens(); ++r)
        batch_.logits_rows.push_back(static_cast<int32_t>(r));
  }
  // Runs the batch; returns logits [rows][vocab].
  std::vector<std::vector<float>> run() {
    const size_t V = m_.config().vocab_size, R = batch_.logits_rows.size();
    std::vector<float> flat(R * V);
    Status s = m_.forward(batch_, *kv_, flat.data());
    EXPECT_TRUE(s.ok()) << s.message();
    batch_.clear();
    std::vector<std::vector<float>> out(R);
    for (size_t r = 0; r < R; ++r) out[r].assign(flat.begin() + r * V, flat.begin() + (r + 1) * V);
    return out;
  }

 private:
  Qwen2Model& m_;
  size_t blocks_per_seq_;
  std::unique_ptr<KVCache> kv_;
  std::vector<std::vector<int32_t>> tables_;
  Batch batch_;
};

// max |ours - ref| over the fixture's columns, relative to max |ref| over the vocabulary.
double rel_error(const std::vector<float>& ours, const std::vector<float>& ref, const Golden& g,
                 double max_abs) {
  double worst = 0;
  for (size_t i = 0; i < g.columns.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(ours[g.columns[i]]) - ref[i]));
  return worst / max_abs;
}

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

constexpr double kExactTol = 1e-4;

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    g_ = load_golden(GetParam());
    dir_ = model_dir(g_);
  }
  Golden g_;
  std::string dir_;
};

TEST_P(GoldenTest, OnePassMatchesReference) {
  auto m = load(dir_, MatmulPrecision::kExact);
  for (const auto& c : g_.cases) {
    auto toks = c.tokens();
    Runner r(*m, 1, toks.size());
    r.add(0, toks, 0, toks.size(), true);
    auto out = r.run();
    ASSERT_EQ(out.size(), c.rows.size() - 1);
    for (size_t i = 0; i < out.size(); ++i)
      EXPECT_LE(rel_error(out[i], c.rows[i], g_, c.max_abs_logit), kExactTol) << "row " << i;
  }
}

TEST_P(GoldenTest, PrefillThenGreedyDecodeMatchesReference) {
  auto m = load(dir_, MatmulPrecision::kExact);
  for (const auto& c : g_.cases) {
    auto toks = c.tokens();
    Runner r(*m, 1, toks.size() + 1);
    r.add(0, toks, 0, c.prompt.size(), false);
    auto out = r.run();
    bool diverged = false;
    for (size_t step = 0; step < c.continuation.size(); ++step) {
      const auto& row = c.rows[c.prompt.size() - 1 + step];
      EXPECT_LE(rel_error(out[0], row, g_, c.max_abs_logit), kExactTol) << "step " << step;
      int32_t ours = argmax(out[0]);
      if (!diverged && ours != c.continuation[step]) {
        // Only a near-tie in the reference may flip; after that the sequences differ.
        EXPECT_LT(c.top2_margin[step], 1e-4 * c.max_abs_logit)
            << "greedy token differs at " << step;
        diverged = true;
      }
      if (step + 1 == c.continuation.size()) break;
      r.add(0, toks, c.prompt.size() + step, c.prompt.size() + step + 1, false);
      out = r.run();
    }
  }
}

TEST_P(GoldenTest, ChunkedPrefillMatchesReference) {
  auto m = load(dir_, MatmulPrecision::kExact);
  for (const auto& c : g_.cases) {
    auto toks = c.tokens();
    Runner r(*m, 1, toks.size());
    for (size_t from = 0; from < toks.size(); from += 7) {
      size_t to = std::min(toks.size(), from + 7);
      r.add(0, toks, from, to, true);
      auto out = r.run();
      for (size_t i = 0; i < out.size(); ++i)
        EXPECT_LE(rel_error(out[i], c.rows[from + i], g_, c.max_abs_logit), kExactTol);
    }
  }
}

TEST_P(GoldenTest, RaggedBatchAndMixedStepsMatchReference) {
  auto m = load(dir_, MatmulPrecision::kExact);
  size_t max_len = 0;
  for (const auto& c : g_.cases) max_len = std::max(max_len, c.tokens().size());
  Runner r(*m, g_.cases.size(), max_len);
  // Step 1: every sequence's prompt minus its last token, all in one batch (ragged).
  // Step 2: each sequence's remaining tokens: one is a decode, others longer chunks.
  std::vector<size_t> split;
  for (size_t s = 0; s < g_.cases.size(); ++s) {
    auto toks = g_.cases[s].tokens();
    split.push_back(s == 0 ? toks.size() - 1 : (toks.size() + 1) / 2);
    r.add(s, toks, 0, split[s], true);
  }
  auto out = r.run();
  size_t row = 0;
  for (size_t s = 0; s < g_.cases.size(); ++s)
    for (size_t i = 0; i < split[s]; ++i, ++row)
      EXPECT_LE(rel_error(out[row], g_.cases[s].rows[i], g_, g_.cases[s].max_abs_logit), kExactTol);
  for (size_t s = 0; s < g_.cases.size(); ++s)
    r.add(s, g_.cases[s].tokens(), split[s], g_.cases[s].tokens().size(), true);
  out = r.run();
  row = 0;
  for (size_t s = 0; s < g_.cases.size(); ++s)
    for (size_t i = split[s]; i < g_.cases[s].tokens().size(); ++i, ++row)
      EXPECT_LE(rel_error(out[row], g_.cases[s].rows[i], g_, g_.cases[s].max_abs_logit), kExactTol);
}

// A sequence's logits do not depend on what else is in the batch, bit for bit.
void check_batch_invariance(const std::string& dir, const Golden& g, MatmulPrecision p,
                            DType kv_dtype) {
  auto m = load(dir, p, 2);
  auto alone_model = load(dir, p, 1);  // and not on the thread count either
  const auto& a = g.cases.back();
  auto ta = a.tokens();
  Runner alone(*alone_model, 1, ta.size(), kv_dtype);
  alone.add(0, ta, 0, ta.size(), true);
  auto ref = alone.run();
  Runner mixed(*m, g.cases.size(), 128, kv_dtype);
  for (size_t s = 0; s + 1 < g.cases.size(); ++s) {
    auto t = g.cases[s].tokens();
    mixed.add(s, t, 0, t.size(), true);
  }
  mixed.add(g.cases.size() - 1, ta, 0, ta.size(), true);
  auto out = mixed.run();
  for (size_t i = 0; i < ref.size(); ++i) {
    const auto& got = out[out.size() - ref.size() + i];
    EXPECT_EQ(0, std::memcmp(got.data(), ref[i].data(), got.size() * sizeof(float))) << "row " << i;
  }
}

TEST_P(GoldenTest, BatchInvariantExact) {
  check_batch_invariance(dir_, g_, MatmulPrecision::kExact, DType::F32);
}
TEST_P(GoldenTest, BatchInvariantBf16) {
  check_batch_invariance(dir_, g_, MatmulPrecision::kBf16, DType::BF16);
}

// The fast path (BF16 activations and KV) stays close to the reference and
// gives the same greedy tokens except at near-ties.
TEST_P(GoldenTest, Bf16PathIsClose) {
  auto m = load(dir_, MatmulPrecision::kBf16);
  double worst = 0;
  for (const auto& c : g_.cases) {
    auto toks = c.tokens();
    Runner r(*m, 1, toks.size(), DType::BF16);
    r.add(0, toks, 0, toks.size(), true);
    auto out = r.run();
    for (size_t i = 0; i < out.size(); ++i) {
      double e = rel_error(out[i], c.rows[i], g_, c.max_abs_logit);
      worst = std::max(worst, e);
      if (i + 1 >= c.prompt.size() &&
          c.top2_margin[i + 1 - c.prompt.size()] > 0.05 * c.max_abs_logit) {
        EXPECT_EQ(argmax(out[i]), c.continuation[i + 1 - c.prompt.size()]) << "row " << i;
      }
    }
  }
  // BF16 rounding of every activation (8-bit mantissa) and of K/V, over all layers:
  // measured ~4e-2 of max |logit| on the tiny models.
  EXPECT_LE(worst, 8e-2);
  std::printf("bf16 path: max relative logit error %.2e\n", worst);
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTest, ::testing::Values("tiny", "tiny-untied", "wide2"));

}  // namespace
}  // namespace qs
