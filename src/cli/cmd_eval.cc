// qwenserve eval: how good is a model on a text, and how far is it from another.
//
//   qwenserve eval -m MODEL --data FILE [--reference REF] [--ctx 512] [--stride N]
//                  [--max-tokens N] [--json] [--reference-kv-cache-dtype bf16|f32|int8]
//
// The text is tokenized with MODEL's tokenizer and cut into windows of --ctx
// tokens, starting every --stride tokens (default: --ctx, no overlap). As in
// Hugging Face's strided perplexity, a token is scored at most once, by the
// first window that contains it and the token before it; with a stride < ctx
// every scored token (except in the first window) sees at least ctx - stride
// tokens of context. Without overlap the first token of each window has no
// context in it and is not scored. Per scored token t, in double precision:
//   CE_t = -log softmax(model logits)[token_t]            perplexity = exp(mean CE)
//   with --reference: KL_t = sum_v p_ref(v) (log p_ref(v) - log p_model(v)),
//   top-1 agreement (argmax ref == argmax model), and the distillation loss
//   0.7 * mean KL + 0.3 * mean CE (the quantization-quality number).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_registry.h"
#include "cli/generation.h"
#include "cli/model_options.h"

namespace qs::cli {
namespace {

constexpr size_t kBlock = 16;
constexpr size_t kChunk = 64;  // tokens per forward call: bounds logits memory to 64 x vocab

struct EvalArgs {
  ModelArgs model;
  std::string reference, data;
  std::string reference_kv_dtype;  // "" = the model's --kv-cache-dtype
  int64_t ctx = 512, stride = 0, max_tokens = 0;
  bool json = false;
};

// One model fed window by window; logits of every row of each chunk.
class WindowRunner {
 public:
  WindowRunner(Qwen2Model& m, DType kv_dtype, size_t ctx) : m_(m) {
    const size_t blocks = (ctx + kBlock - 1) / kBlock;
    auto kv = KVCache::Create(m.kv_shape(blocks, kBlock, kv_dtype));
    if (!kv.ok()) throw CommandError{kv.status().message(), 1};
    kv_ = std::make_unique<KVCache>(std::move(kv).value());
    for (size_t b = 0; b < blocks; ++b) table_.push_back(static_cast<int32_t>(b));
  }
  // Tokens ids[from, to) at positions from..to-1 of the current window; returns
  // logits [to - from][vocab].
  const std::vector<float>& run(const int32_t* window, size_t from, size_t to) {
    batch_.clear();
    batch_.add_sequence(window + from, static_cast<int32_t>(to - from), static_cast<int32_t>(from),
                        table_, false);
    for (size_t r = 0; r < to - from; ++r) batch_.logits_rows.push_back(static_cast<int32_t>(r));
    logits_.resize((to - from) * static_cast<size_t>(m_.config().vocab_size));
    Status s = m_.forward(batch_, *kv_, logits_.data());
    if (!s.ok()) throw CommandError{"eval: " + s.message(), 1};
    return logits_;
  }

 private:
  Qwen2Model& m_;
  std::unique_ptr<KVCache> kv_;
  std::vector<int32_t> table_;
  Batch batch_;
  std::vector<float> logits_;
};

// log-softmax of one row, in double.
void log_softmax(const float* x, size_t n, std::vector<double>* out) {
  out->resize(n);
  double mx = x[0];
  for (size_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  const double lse = mx + std::log(sum);
  for (size_t i = 0; i < n; ++i) (*out)[i] = static_cast<double>(x[i]) - lse;
}

size_t argmax_row(const float* x, size_t n) {
  return static_cast<size_t>(std::max_element(x, x + n) - x);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CommandError{"eval: cannot read --data file '" + path + "'", 2};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void eval(const EvalArgs& a) {
  if (a.ctx < 2) throw CommandError{"eval: --ctx must be at least 2", 2};
  const size_t ctx = static_cast<size_t>(a.ctx);
  const size_t stride = a.stride > 0 ? static_cast<size_t>(a.stride) : ctx;
  if (stride > ctx) throw CommandError{"eval: --stride must not exceed --ctx", 2};
  const std::string text = read_file(a.data);

  auto model = load_model_or_throw(a.model);
  auto tok = load_tokenizer_or_throw(a.model.dir);
  std::vector<int32_t> ids = tok->encode(text);
  if (a.max_tokens > 0 && ids.size() > static_cast<size_t>(a.max_tokens))
    ids.resize(static_cast<size_t>(a.max_tokens));
  if (ids.size() < 2) throw CommandError{"eval: the text has fewer than 2 tokens", 2};
  const size_t V = static_cast<size_t>(model->config().vocab_size);

  std::unique_ptr<Qwen2Model> ref;
  if (!a.reference.empty()) {
    ModelArgs ra;
    ra.dir = a.reference;
    ra.threads = a.model.threads;
    ra.precision = a.model.precision;
    ra.kv_dtype = a.reference_kv_dtype.empty() ? a.model.kv_dtype : a.reference_kv_dtype;
    ref = load_model_or_throw(ra);
    if (static_cast<size_t>(ref->config().vocab_size) != V)
      throw CommandError{"eval: the reference's vocab_size " +
                             std::to_string(ref->config().vocab_size) +
                             " differs from the model's " + std::to_string(V),
                         2};
  }

  WindowRunner run(*model, kv_dtype_of(a.model), ctx);
  std::unique_ptr<WindowRunner> run_ref;
  const std::string ref_kv = a.reference_kv_dtype.empty() ? a.model.kv_dtype : a.reference_kv_dtype;
  if (ref) run_ref = std::make_unique<WindowRunner>(*ref, kv_dtype_of(ref_kv), ctx);

  std::vector<double> ce, ce_ref, kl;
  size_t agree = 0;
  std::vector<double> lp, lq;
  size_t scored_until = 1;  // tokens [1, scored_until) are scored
  for (size_t begin = 0; scored_until < ids.size(); begin += stride) {
    const size_t end = std::min(begin + ctx, ids.size());
    const int32_t* window = ids.data() + begin;
    // Row r of the window predicts token begin + r + 1; score those not yet scored.
    for (size_t from = 0; from < end - begin; from += kChunk) {
      const size_t to = std::min(from + kChunk, end - begin);
      const auto& lm = run.run(window, from, to);
      const std::vector<float>* lr = run_ref ? &run_ref->run(window, from, to) : nullptr;
      for (size_t r = from; r < to; ++r) {
        const size_t target = begin + r + 1;
        if (target < scored_until || target >= end) continue;
        const float* xm = lm.data() + (r - from) * V;
        log_softmax(xm, V, &lq);
        ce.push_back(-lq[static_cast<size_t>(ids[target])]);
        if (lr) {
          const float* xr = lr->data() + (r - from) * V;
          log_softmax(xr, V, &lp);
          ce_ref.push_back(-lp[static_cast<size_t>(ids[target])]);
          double k = 0;
          for (size_t v = 0; v < V; ++v) k += std::exp(lp[v]) * (lp[v] - lq[v]);
          kl.push_back(std::max(k, 0.0));  // >= 0 mathematically; clamp rounding noise
          agree += argmax_row(xm, V) == argmax_row(xr, V) ? 1 : 0;
        }
      }
    }
    scored_until = end;
  }

  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  auto p99 = [](std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    // nearest rank: the smallest value with at least 99% of the values <= it
    size_t i = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(v.size()))) - 1;
    return v[std::min(i, v.size() - 1)];
  };
  nlohmann::json out;
  out["model"] = a.model.dir;
  out["tokens"] = ids.size();
  out["scored_tokens"] = ce.size();
  out["ctx"] = ctx;
  out["stride"] = stride;
  out["cross_entropy"] = mean(ce);
  out["perplexity"] = std::exp(mean(ce));
  if (ref) {
    out["reference"] = a.reference;
    out["kv_cache_dtype"] = a.model.kv_dtype;
    out["reference_kv_cache_dtype"] = ref_kv;
    out["reference_cross_entropy"] = mean(ce_ref);
    out["reference_perplexity"] = std::exp(mean(ce_ref));
    out["kl_mean"] = mean(kl);
    out["kl_p99"] = p99(kl);
    out["top1_agreement"] = static_cast<double>(agree) / static_cast<double>(kl.size());
    out["distill_loss"] = 0.7 * mean(kl) + 0.3 * mean(ce);
  }
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("tokens %zu, scored %zu (ctx %zu, stride %zu)\n", ids.size(), ce.size(), ctx, stride);
  std::printf("%-26s %14s\n", "metric", "value");
  std::printf("%-26s %14.6f\n", "cross-entropy (nats)", mean(ce));
  std::printf("%-26s %14.4f\n", "perplexity", std::exp(mean(ce)));
  if (ref) {
    std::printf("%-26s %14s\n", "kv cache (model / ref)",
                (a.model.kv_dtype + " / " + ref_kv).c_str());
    std::printf("%-26s %14.6f\n", "reference cross-entropy", mean(ce_ref));
    std::printf("%-26s %14.4f\n", "reference perplexity", std::exp(mean(ce_ref)));
    std::printf("%-26s %14.6g\n", "KL(ref || model) mean", mean(kl));
    std::printf("%-26s %14.6g\n", "KL(ref || model) p99", p99(kl));
    std::printf("%-26s %13.2f%%\n", "top-1 agreement",
                100.0 * static_cast<double>(agree) / static_cast<double>(kl.size()));
    std::printf("%-26s %14.6f\n", "0.7 KL + 0.3 CE", 0.7 * mean(kl) + 0.3 * mean(ce));
  }
}

void setup(CLI::App* sub) {
  auto a = std::make_shared<EvalArgs>();
  add_model_options(sub, &a->model);
  sub->add_option("--data", a->data, "Text file to evaluate on")->required();
  sub->add_option("--reference", a->reference,
                  "Reference model directory: adds KL(reference || model), top-1 agreement and "
                  "the distillation loss 0.7 KL + 0.3 CE");
  sub->add_option("--reference-kv-cache-dtype", a->reference_kv_dtype,
                  "KV cache element type of the reference run (default: --kv-cache-dtype); "
                  "e.g. -m M --kv-cache-dtype int8 --reference M --reference-kv-cache-dtype bf16")
      ->check(CLI::IsMember({"bf16", "f32", "int8"}));
  sub->add_option("--ctx", a->ctx, "Tokens per window (default 512)");
  sub->add_option("--stride", a->stride, "Window start every N tokens (default: --ctx)");
  sub->add_option("--max-tokens", a->max_tokens, "Evaluate only the first N tokens of the text");
  sub->add_flag("--json", a->json, "Print the results as JSON");
  sub->callback([a] { eval(*a); });
}

CommandRegistrar reg("eval", "Perplexity / cross-entropy of a model on a text; KL vs a reference",
                     &setup);

}  // namespace
}  // namespace qs::cli
