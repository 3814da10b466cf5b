// The step loop of continuous batching, on one thread:
//   schedule -> forward(batch) -> sample -> update -> events.
// Every step mixes whatever the scheduler picked: prompt chunks of new
// requests and one decode token of each running one. Not thread-safe; the
// EngineClient owns it on its loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "model/kv_cache.h"
#include "model/qwen2_model.h"
#include "sampling/sampler.h"

namespace qs::engine {

struct EngineConfig {
  SchedulerConfig scheduler;  // num_blocks == 0: sized from max_batch_size * max_seq_len
  DType kv_dtype = DType::BF16;
  size_t kv_cache_max_bytes = size_t{4} << 30;  // cap when sizing num_blocks automatically
};

// What one step produced for one request.
struct TokenOutput {
  uint64_t request_id = 0;
  int32_t token = -1;  // -1: no new token (e.g. aborted, or an error)
  float logprob = 0.0f;
  std::vector<sampling::TokenLogprob> top_logprobs;
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  int32_t num_prompt_tokens = 0;
  int32_t num_cached_tokens = 0;  // prompt tokens served from the prefix cache
  std::string error;              // non-empty: the request failed (finished is true)
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Create(Qwen2Model& model, const EngineConfig& config);

  // Queues a request (its id must be unique). Errors: queue full, can never fit.
  AddResult add(Request request);
  // Finishes a request now (client gone); its blocks are freed, no event is emitted.
  void abort(uint64_t id);
  // One step; returns the events of the requests it touched.
  std::vector<TokenOutput> step();

  bool has_work() const { return scheduler_.has_unfinished(); }
  SchedulerStats stats() const { return scheduler_.stats(); }
  const SchedulerConfig& scheduler_config() const { return scheduler_.config(); }
  size_t kv_cache_bytes() const { return kv_.bytes(); }
  uint64_t num_steps() const { return num_steps_; }

 private:
  Engine(Qwen2Model& model, Scheduler scheduler, KVCache kv)
      : model_(model), scheduler_(std::move(scheduler)), kv_(std::move(kv)) {}

  // Advances the request's grammar by o->token; finishes the request (stop)
  // when the value is complete, or with an error if the token is rejected.
  void advance_grammar(grammar::Matcher& m, TokenOutput* o);

  Qwen2Model& model_;
  Scheduler scheduler_;
  KVCache kv_;
  sampling::Sampler sampler_;
  Batch batch_;
  std::vector<float> logits_;  // [rows][vocab]
  std::vector<uint8_t> mask_;  // [vocab] grammar mask of the row being sampled
  uint64_t num_steps_ = 0;
};

}  // namespace qs::engine
