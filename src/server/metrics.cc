#include "server/metrics.h"

#include <cstdio>
#include <sstream>

namespace qs::server {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void header(std::ostringstream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void single(std::ostringstream& o, const char* name, const char* type, const char* help, double v) {
  header(o, name, type, help);
  o << name << ' ' << num(v) << '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++n_;
}

uint64_t Histogram::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    o << name << "_bucket{le=\"" << num(bounds_[i]) << "\"} " << cum << '\n';
  }
  cum += counts_.back();
  o << name << "_bucket{le=\"+Inf\"} " << cum << '\n';
  o << name << "_sum " << num(sum_) << '\n' << name << "_count " << n_ << '\n';
  return o.str();
}

Metrics::Metrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0}),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
             1.0, 2.5}),
      e2e_({0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 300.0}) {}

void Metrics::count_request(const std::string& endpoint, int http_status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, http_status}];
}

std::string Metrics::render(const engine::EngineSnapshot* engine) const {
  std::ostringstream o;
  header(o, "qwenserve_requests_total", "counter", "HTTP requests by endpoint and status code.");
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, n] : requests_)
      o << "qwenserve_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second
        << "\"} " << n << '\n';
  }
  single(o, "qwenserve_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
         static_cast<double>(prompt_tokens_.load()));
  single(o, "qwenserve_generation_tokens_total", "counter", "Generated tokens.",
         static_cast<double>(generation_tokens_.load()));
  single(o, "qwenserve_requests_cancelled_total", "counter",
         "Streams whose client disconnected before the end (their sequences were freed).",
         static_cast<double>(cancelled_.load()));
  o << ttft_.render("qwenserve_time_to_first_token_seconds",
                    "Time from request arrival to its first generated token.");
  o << tpot_.render("qwenserve_time_per_output_token_seconds",
                    "Mean time between generated tokens after the first, per request.");
  o << e2e_.render("qwenserve_e2e_request_latency_seconds",
                   "Time from request arrival to its last token.");
  single(o, "qwenserve_model_loaded", "gauge", "1 once the model is loaded and serving.",
         engine ? 1 : 0);
  if (engine) {
    const engine::SchedulerStats& s = engine->stats;
    single(o, "qwenserve_num_requests_waiting", "gauge", "Requests waiting to be scheduled.",
           s.num_waiting);
    single(o, "qwenserve_num_requests_running", "gauge", "Sequences in the running batch.",
           s.num_running);
    single(o, "qwenserve_num_preemptions_total", "counter", "Sequences preempted (recomputed).",
           static_cast<double>(s.num_preemptions));
    single(o, "qwenserve_kv_blocks_total", "gauge", "KV cache blocks in the pool.",
           s.kv.num_blocks);
    single(o, "qwenserve_kv_blocks_used", "gauge", "KV cache blocks in use.", s.kv.num_used_blocks);
    single(o, "qwenserve_kv_cache_usage_ratio", "gauge", "Used / total KV blocks.", s.kv.usage);
    single(o, "qwenserve_prefix_cache_queries_total", "counter",
           "Prompt tokens looked up in the prefix cache.",
           static_cast<double>(s.kv.prefix_query_tokens));
    single(o, "qwenserve_prefix_cache_hits_total", "counter",
           "Prompt tokens found in the prefix cache (not recomputed).",
           static_cast<double>(s.kv.prefix_hit_tokens));
    single(o, "qwenserve_prefix_cache_hit_rate", "gauge", "hits / queries since start.",
           s.kv.prefix_hit_rate());
    single(o, "qwenserve_engine_steps_total", "counter", "Engine steps (forward passes).",
           static_cast<double>(engine->steps));
    single(o, "qwenserve_draining", "gauge", "1 while shutting down.", engine->draining ? 1 : 0);
  }
  return o.str();
}

}  // namespace qs::server
