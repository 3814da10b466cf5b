// Structured-output benchmark over the schema corpus with the real
// 151,936-token Qwen2.5 vocabulary: schema compile time, per-step token-mask
// time (cold: a freshly compiled grammar, so first uses of each grammar
// position include their precomputation; warm: the same compiled grammar on a
// later request, as with GrammarCache hits), accept time, and optionally the
// decode throughput of a model with and without a schema mask.
//
//   grammar_bench [--schemas DIR] [--steps N] [--runs K] [--cold-vocab 1] [--decode-ms MS]
//                 [--model DIR --threads T]
//
// The schemas share one Vocabulary, as in a server, so a schema's first
// request finds the mask parts of sub-grammars (string bodies, numbers,
// whitespace) that earlier schemas computed; --cold-vocab 1 builds a new
// Vocabulary per schema instead (nothing shared: the worst case). The grammar
// cost per step (mask + accept) is also given as a share of a decode step of
// --decode-ms (35 ms: the 0.5B model at batch 1 on the 2-core dev machine).
//
// Steps pick a uniformly random allowed token (the noise a random-weight model
// gives: the hardest case, long strings and many distinct states), with the
// token budget on so every walk completes. Times are this thread's CPU time.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "grammar/structured_output.h"
#include "model/qwen2_model.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace qs;

namespace {

double cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[i];
}

void report(const char* name, const std::vector<double>& v, const char* unit) {
  std::printf("%-28s n=%-7zu p50 %9.1f  p90 %9.1f  p99 %9.1f  max %10.1f %s\n", name, v.size(),
              pct(v, 50), pct(v, 90), pct(v, 99),
              v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()), unit);
}

}  // namespace

int main(int argc, char** argv) {
  std::string schemas = std::string(QS_SOURCE_DIR) + "/tests/grammar/schemas";
  std::string model_dir;
  int steps = 200, runs = 3, threads = 0;
  bool cold_vocab = false;  // a new Vocabulary (empty shared store) per schema
  double decode_ms = 35.0;  // the 0.5B model's decode step at batch 1 here
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--schemas")
      schemas = argv[i + 1];
    else if (a == "--steps")
      steps = std::atoi(argv[i + 1]);
    else if (a == "--runs")
      runs = std::atoi(argv[i + 1]);
    else if (a == "--model")
      model_dir = argv[i + 1];
    else if (a == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (a == "--cold-vocab")
      cold_vocab = std::atoi(argv[i + 1]) != 0;
    else if (a == "--decode-ms")
      decode_ms = std::atof(argv[i + 1]);
  }
  auto tok = tokenizer::Tokenizer::Load(QS_TOKENIZER_DATA);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().message().c_str());
    return 1;
  }
  double t0 = cpu_us();
  auto vocab = grammar::Vocabulary::FromTokenizer(**tok, 151936).value();
  std::printf("vocabulary: %d ids, %zu grammar tokens, built in %.1f ms\n", vocab->size(),
              vocab->sorted().size(), (cpu_us() - t0) / 1e3);

  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(schemas))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no schemas in %s (use --schemas DIR)\n", schemas.c_str());
    return 1;
  }

  std::vector<double> compile_us, cold_us, warm_us, accept_us, first_us, step_us;
  struct Slow {
    double us;
    std::string where;
  };
  std::vector<Slow> slow;  // the slowest masks, with what they computed
  std::vector<uint8_t> mask(vocab->size());
  std::mt19937_64 rng(42);
  long incomplete = 0;
  for (const fs::path& f : files) {
    std::ifstream in(f);
    json schema = json::parse(in);
    if (cold_vocab) vocab = grammar::Vocabulary::FromTokenizer(**tok, 151936).value();
    grammar::GrammarPtr g;
    for (int rep = 0; rep < 5; ++rep) {
      double c0 = cpu_us();
      auto r = grammar::compile_json_schema(schema, vocab);
      compile_us.push_back(cpu_us() - c0);
      if (!r.ok()) {
        std::fprintf(stderr, "%s: %s\n", f.filename().c_str(), r.status().message().c_str());
        return 1;
      }
      g = r.value();
    }
    for (int run = 0; run < runs; ++run) {
      grammar::Matcher m(g);
      std::string text;
      for (int s = 0; s < steps && !m.is_terminated(); ++s) {
        size_t computed = g->masks_computed();
        double m0 = cpu_us();
        m.fill_mask(mask.data(), steps - s);
        double dt = cpu_us() - m0;
        if (dt > 1000) {
          std::string tail = text.substr(text.size() > 40 ? text.size() - 40 : 0);
          for (char& c : tail)
            if (c == '\n') c = '|';
          char buf[256];
          std::snprintf(buf, sizeof buf, "%s run %d step %d, %zu sets computed, after ...%s",
                        f.filename().c_str(), run, s, g->masks_computed() - computed, tail.c_str());
          slow.push_back({dt, buf});
        }
        (run == 0 ? cold_us : warm_us).push_back(dt);
        if (s == 0 && run == 0) first_us.push_back(dt);
        std::vector<int32_t> allowed;
        for (int32_t t = 0; t < vocab->size(); ++t)
          if (mask[t]) allowed.push_back(t);
        if (allowed.empty()) break;
        int32_t pick = allowed[rng() % allowed.size()];
        double a0 = cpu_us();
        bool ok = m.accept(pick);
        if (!vocab->is_eos(pick)) text += vocab->bytes(pick);
        accept_us.push_back(cpu_us() - a0);
        step_us.push_back(dt + accept_us.back());
        if (!ok) {
          std::fprintf(stderr, "%s: allowed token %d refused\n", f.filename().c_str(), pick);
          return 1;
        }
      }
      if (!m.is_terminated()) ++incomplete;
    }
  }
  std::printf("corpus: %zu schemas, %d runs x up to %d steps each (run 1 cold, later runs warm)\n",
              files.size(), runs, steps);
  report("compile", compile_us, "us");
  report("mask, cold grammar", cold_us, "us");
  report("mask, warm grammar", warm_us, "us");
  std::vector<double> all = cold_us;
  all.insert(all.end(), warm_us.begin(), warm_us.end());
  report("mask, all", all, "us");
  report("first mask of a request", first_us, "us");
  report("accept", accept_us, "us");
  report("step (mask + accept)", step_us, "us");
  double mean = 0;
  for (double x : step_us) mean += x;
  mean /= std::max<size_t>(1, step_us.size());
  std::printf(
      "grammar cost per decode step: mean %.1f us = %.2f%% of a %.1f ms step -> throughput with "
      "a schema %.2f%% of without\n",
      mean, 100.0 * mean / (decode_ms * 1e3), decode_ms,
      100.0 * decode_ms * 1e3 / (decode_ms * 1e3 + mean));
  std::printf("walks not terminated within the budget: %ld\n", incomplete);
  std::sort(slow.begin(), slow.end(), [](const Slow& a, const Slow& b) { return a.us > b.us; });
  std::printf("masks over 1 ms: %zu; the slowest:\n", slow.size());
  for (size_t i = 0; i < slow.size() && i < 12; ++i)
    std::printf("  %8.1f us  %s\n", slow[i].us, slow[i].where.c_str());

  if (!model_dir.empty()) {
    ModelOptions mo;
    mo.threads = threads;
    auto model = Qwen2Model::Load(model_dir, mo);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().message().c_str());
      return 1;
    }
    const int n = 64;
    auto kv = KVCache::Create((*model)->kv_shape((n + 64) / 16 + 1, 16, DType::BF16)).value();
    std::vector<int32_t> table;
    for (size_t i = 0; i < kv.shape().num_blocks; ++i) table.push_back(static_cast<int32_t>(i));
    std::vector<float> logits((*model)->config().vocab_size);
    json schema = json::parse(std::ifstream(files[0]));
    auto g = grammar::compile_json_schema(schema, vocab).value();
    for (int with : {0, 1, 0, 1}) {
      auto m = std::make_unique<grammar::Matcher>(g);
      std::vector<int32_t> ids = (*tok)->encode("Give the oldest person as JSON.");
      Batch batch;
      size_t pos = 0;
      auto w0 = std::chrono::steady_clock::now();
      int produced = 0;
      for (; produced < n; ++produced) {
        batch.clear();
        batch.add_sequence(ids.data(), static_cast<int32_t>(ids.size()), static_cast<int32_t>(pos),
                           table, true);
        if (!(*model)->forward(batch, kv, logits.data()).ok()) return 1;
        pos += ids.size();
        if (with) {
          if (m->is_terminated())
            m = std::make_unique<grammar::Matcher>(g);  // keep decoding n tokens
          m->fill_mask(mask.data(), 1000);
          for (size_t t = 0; t < logits.size(); ++t)
            if (!mask[t]) logits[t] = -INFINITY;
        }
        int32_t best =
            static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        if (with) m->accept(best);
        ids = {best};
      }
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
      std::printf("decode %-12s %.2f tok/s (%d tokens after a %zu-token prompt)\n",
                  with ? "with schema" : "no schema", produced / s, produced, pos - produced + 1);
    }
  }
  return 0;
}
