// qwenserve bench: prefill and decode speed of a model, as ratios against this
// machine's floors (measured in the same run) and against a saved baseline.
//   decode floor  = measured read bandwidth / weight bytes read per token
//   prefill floor = measured BF16 dot peak (int8 dot peak for quantized
//                   layers) / FLOPs per token
//                   (2 x non-embedding matmul parameters + attention)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_registry.h"
#include "cli/model_options.h"
#include "kernels/probe.h"

namespace qs::cli {
namespace {

struct BenchArgs {
  ModelArgs model;
  int decode_tokens = 32;
  int reps = 2;
  std::vector<int> prefill_lengths{128, 512};
  std::vector<int> batch_sizes{1, 4, 16};
  std::string save, baseline;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> random_ids(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, 151642);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Aggregate decode tokens/s with `batch` sequences of 16-token context, one token each per step.
double decode_tps(Qwen2Model& model, const ModelArgs& args, int batch, int steps) {
  const size_t bs = 16, ctx = 16, blocks_per_seq = (ctx + steps + bs - 1) / bs + 1;
  auto kv = KVCache::Create(model.kv_shape(blocks_per_seq * batch, bs, kv_dtype_of(args)));
  if (!kv.ok()) throw CommandError{kv.status().message(), 1};
  std::vector<std::vector<int32_t>> tables(batch);
  for (int s = 0; s < batch; ++s)
    for (size_t b = 0; b < blocks_per_seq; ++b)
      tables[s].push_back(static_cast<int32_t>(s * blocks_per_seq + b));
  std::vector<float> logits(static_cast<size_t>(batch) * model.config().vocab_size);
  Batch b;
  for (int s = 0; s < batch; ++s) {
    auto ids = random_ids(ctx, 7 + s);
    b.add_sequence(ids.data(), ctx, 0, tables[s], true);
  }
  Status st = model.forward(b, kv.value(), logits.data());
  if (!st.ok()) throw CommandError{st.message(), 1};
  double t0 = now_s();
  for (int i = 0; i < steps; ++i) {
    b.clear();
    for (int s = 0; s < batch; ++s) {
      int32_t id = (i * 31 + s * 17) % 151643;
      b.add_sequence(&id, 1, static_cast<int32_t>(ctx + i), tables[s], true);
    }
    st = model.forward(b, kv.value(), logits.data());
    if (!st.ok()) throw CommandError{st.message(), 1};
  }
  return static_cast<double>(batch) * steps / (now_s() - t0);
}

double prefill_tps(Qwen2Model& model, const ModelArgs& args, int len, int reps) {
  SingleSequence seq(model, args, len);
  auto ids = random_ids(len, 1);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    seq.reset();
    double t0 = now_s();
    seq.feed(ids);
    best = std::min(best, now_s() - t0);
  }
  return len / best;
}

// Resident set size of this process in bytes (Linux), 0 if unknown.
double rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  return 0;
}

void bench(const BenchArgs& a) {
  const double t_load = now_s();
  auto model = load_model_or_throw(a.model);
  const double load_s = now_s() - t_load;
  const Qwen2Config& c = model->config();
  ThreadPool& pool = model->pool();
  std::printf(
      "model %s: %lld layers, hidden %lld, vocab %lld; kernels %s, %d threads, precision %s, kv "
      "%s\n",
      a.model.dir.c_str(), static_cast<long long>(c.num_hidden_layers),
      static_cast<long long>(c.hidden_size), static_cast<long long>(c.vocab_size),
      model->kernels().name, pool.num_threads(), a.model.precision.c_str(),
      a.model.kv_dtype.c_str());
  const size_t kv_bpt = model->kv_shape(1, 16, kv_dtype_of(a.model)).bytes_per_token();
  std::printf("kv cache %s: %zu bytes per token (K+V, all layers%s)\n", a.model.kv_dtype.c_str(),
              kv_bpt, a.model.kv_dtype == "int8" ? ", int8 codes + f32 scales" : "");
  // Measure one steady state: the background copy of the weights into 2 MB
  // pages (if any) finished and adopted before anything is timed.
  model->settle_weight_memory();
  // Touch every weight once (a decode step) so RSS counts the mmapped pages.
  decode_tps(*model, a.model, 1, 1);
  std::printf(
      "load %.0f ms (mmap); resident memory after one decode step %.2f GB (weights %.3f GB)\n",
      load_s * 1e3, rss_bytes() / 1e9, model->weights().matmul_weight_bytes / 1e9);
  std::printf("weights in %s", model->weight_memory().c_str());
  if (model->weight_copy_seconds() > 0)
    std::printf(" (copied in the background after load in %.0f ms)",
                model->weight_copy_seconds() * 1e3);
  std::printf("\n");
  const double bw = kernels::measure_read_bandwidth_gbs(&pool);
  const double bf16_peak = kernels::measure_bf16_dot_peak_gflops(&pool);
  const double int8_peak = kernels::measure_int8_dot_peak_gops(&pool);
  const double weight_gb = model->weights().matmul_weight_bytes / 1e9;
  std::printf(
      "machine: read bandwidth %.1f GB/s, bf16 dot peak %.0f GFLOP/s, int8 dot peak %.0f "
      "GOP/s\n",
      bw, bf16_peak, int8_peak);
  // Quantized layers multiply int8 activations with vpdpbusd: their ceiling
  // is the int8 peak (2x the bf16 one here), not the bf16 peak.
  const bool int8_layers =
      !model->weights().layers.empty() &&
      model->weights().layers[0].q_proj.format != kernels::WeightFormat::kBF16 && int8_peak > 0;
  const double peak = int8_layers ? int8_peak : bf16_peak;

  // Matmul parameters of the layers (no embedding / lm_head): 2 FLOPs each per token.
  const double H = c.hidden_size, I = c.intermediate_size, qd = c.num_attention_heads * c.head_dim,
               kvd = c.num_key_value_heads * c.head_dim;
  const double layer_params = H * qd + 2 * H * kvd + qd * H + 3 * H * I;
  nlohmann::json results;
  for (int len : a.prefill_lengths) {
    double tps = prefill_tps(*model, a.model, len, a.reps);
    // Attention: QK^T and PV, 2 FLOPs per MAC, causal: sum over positions of (p+1).
    double attn_flops = 4.0 * qd * (len + 1) / 2.0;
    double flops_per_token = c.num_hidden_layers * (2 * layer_params + attn_flops);
    double floor_tps = peak * 1e9 / flops_per_token;
    std::printf(
        "prefill %4d tokens: %8.1f tokens/s  = %5.1f%% of compute floor (%.0f tokens/s at the %s "
        "peak)\n",
        len, tps, 100 * tps / floor_tps, floor_tps, int8_layers ? "int8" : "bf16");
    results["prefill_" + std::to_string(len)] = tps;
  }
  // Decode: best of `reps` windows of decode_tokens steps, like prefill and
  // like the bandwidth probe it is compared with (best of 4 passes); the
  // mean is printed too, since this machine's bandwidth moves run to run.
  for (int batch : a.batch_sizes) {
    double tps = 0, sum = 0;
    const int reps = std::max(1, a.reps);
    for (int r = 0; r < reps; ++r) {
      const double w = decode_tps(*model, a.model, batch, a.decode_tokens);
      tps = std::max(tps, w);
      sum += w;
    }
    if (batch == 1) {
      double floor_tps = bw / weight_gb;
      std::printf(
          "decode batch 1: %8.2f tokens/s  = %5.1f%% of bandwidth floor (%.1f tokens/s: %.3f GB "
          "per token; mean of %d windows %.2f)\n",
          tps, 100 * tps / floor_tps, floor_tps, weight_gb, reps, sum / reps);
    } else {
      std::printf("decode batch %d: %8.2f tokens/s aggregate\n", batch, tps);
    }
    results["decode_b" + std::to_string(batch)] = tps;
    results["decode_b" + std::to_string(batch) + "_mean"] = sum / reps;
  }
  if (!a.baseline.empty()) {
    std::ifstream in(a.baseline);
    nlohmann::json base = nlohmann::json::parse(in, nullptr, false);
    if (base.is_discarded()) throw CommandError{"bench: cannot read baseline " + a.baseline, 1};
    std::printf("against baseline %s:\n", a.baseline.c_str());
    for (auto& [k, v] : results.items())
      if (base.contains(k) && base[k].is_number() && base[k].get<double>() > 0)
        std::printf("  %-14s %.2fx\n", k.c_str(), v.get<double>() / base[k].get<double>());
  }
  if (!a.save.empty()) {
    results["read_bandwidth_gbs"] = bw;
    results["load_ms"] = load_s * 1e3;
    results["bf16_peak_gflops"] = bf16_peak;
    results["int8_peak_gops"] = int8_peak;
    results["kv_bytes_per_token"] = kv_bpt;
    std::ofstream(a.save) << results.dump(2) << "\n";
  }
}

CommandRegistrar reg("bench", "Prefill/decode speed vs the machine's floors", [](CLI::App* sub) {
  auto a = std::make_shared<BenchArgs>();
  add_model_options(sub, &a->model);
  sub->add_option("--decode-tokens", a->decode_tokens, "Decode steps per measurement");
  sub->add_option("--reps", a->reps,
                  "Repetitions of each prefill and decode measurement (best is kept)");
  sub->add_option("--prefill", a->prefill_lengths, "Prefill lengths");
  sub->add_option("--batch", a->batch_sizes, "Decode batch sizes");
  sub->add_option("--save", a->save, "Write results as JSON");
  sub->add_option("--baseline", a->baseline, "Print ratios against a JSON saved by --save");
  sub->callback([a] { bench(*a); });
});

}  // namespace
}  // namespace qs::cli
