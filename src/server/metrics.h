// Prometheus metrics of the server (text exposition format 0.0.4).
// Counters and histograms are updated by the HTTP handler threads; the gauges
// (queue, running sequences, KV blocks, prefix cache) come from the engine's
// snapshot at scrape time.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine_client.h"

namespace qs::server {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // "# HELP", "# TYPE" then _bucket{le=...}, _sum and _count lines.
  std::string render(const std::string& name, const std::string& help) const;
  uint64_t count() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // [bounds + 1]: the last is +Inf
  double sum_ = 0;
  uint64_t n_ = 0;
};

class Metrics {
 public:
  Metrics();

  // One finished HTTP request on `endpoint` ("/v1/chat/completions", ...) with its status.
  void count_request(const std::string& endpoint, int http_status);
  void add_prompt_tokens(int64_t n) { prompt_tokens_ += n; }
  void add_generation_tokens(int64_t n) { generation_tokens_ += n; }
  void count_cancelled() { ++cancelled_; }  // client went away mid-stream
  void observe_ttft(double s) { ttft_.observe(s); }
  void observe_tpot(double s) { tpot_.observe(s); }
  void observe_e2e(double s) { e2e_.observe(s); }

  // The whole exposition. `engine` is null while the model loads.
  std::string render(const engine::EngineSnapshot* engine) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
  std::atomic<int64_t> prompt_tokens_{0}, generation_tokens_{0}, cancelled_{0};
  Histogram ttft_, tpot_, e2e_;
};

}  // namespace qs::server
