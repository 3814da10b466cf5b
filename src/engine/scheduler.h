// The scheduling policy (modelled on vLLM v1's scheduler.py), with no model:
// each step it picks which tokens of which requests run under a token budget,
// manages their KV blocks, and after the forward turns sampled tokens into
// per-request events. One thread uses it (the engine loop).
//
// Policy of schedule():
//  1. Running requests first, oldest first: each gets all its uncomputed
//     tokens (1 for a decode, the rest of a prompt chunk otherwise), cut to the
//     remaining budget. If the KV pool is out of blocks, the most recently
//     arrived running request is preempted by recompute (blocks freed, counter
//     reset to 0, put at the front of the waiting queue); it may be the request
//     itself, which ends the step's running pass.
//  2. Then, if nobody was preempted this step, waiting requests in FCFS order
//     while budget and max_batch_size allow: prefix-cache hits are applied and
//     the rest of the prompt is chunked to the budget (or, with chunked prefill
//     off, must fit whole; a request resuming after preemption is chunked
//     anyway, or it might never fit again). The queue head blocking (no free
//     blocks) stops the pass: strict FCFS, no overtaking.
// Protocol per step: out = schedule(); run the model on out; update(result).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/request.h"
#include "kvcache/kv_cache_manager.h"

namespace qs::engine {

struct SchedulerConfig {
  int32_t max_batch_size = 16;            // running sequences at once
  int32_t max_num_batched_tokens = 2048;  // token budget of one step
  bool enable_chunked_prefill = true;     // off: a prompt must fit one step's budget
  int32_t max_seq_len = 8192;             // prompt + output
  int32_t block_size = 16;                // tokens per KV block
  int32_t num_blocks = 0;                 // KV pool size, from the memory budget
  int32_t max_waiting = 1024;             // queue cap (the server answers 429 beyond it)
  bool enable_prefix_caching = true;

  Status validate() const;
};

// The work of one request in one step: tokens [start_pos, start_pos + n).
struct ScheduledSeq {
  uint64_t request_id = 0;
  int32_t start_pos = 0;             // position of token_ids[0]; = num_computed_tokens
  std::vector<int32_t> token_ids;    // [n]
  std::vector<int32_t> block_table;  // covers positions [0, start_pos + n)
  bool needs_logits = false;         // the step reaches the last known token: sample one
  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
};

struct ScheduleOutput {
  std::vector<ScheduledSeq> seqs;       // running requests first, then newly admitted
  int32_t total_tokens = 0;             // sum of seqs[i].num_tokens(), <= the budget
  std::vector<uint64_t> preempted_ids;  // lost their KV this step
  bool empty() const { return seqs.empty(); }
};

// What the engine sampled: one entry per ScheduledSeq with needs_logits.
struct StepResult {
  struct Sampled {
    uint64_t request_id = 0;
    int32_t token = -1;
  };
  std::vector<Sampled> sampled;
};

struct RequestEvent {
  uint64_t request_id = 0;
  int32_t new_token = -1;  // -1: none
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  int32_t stop_token = -1;  // the stop token id, for finish_reason kStop by token
};

enum class AddError {
  kNone,
  kQueueFull,  // retry later (HTTP 429/503)
  kTooLong,    // can never fit (HTTP 400)
  kInvalid,    // malformed request (HTTP 400)
};

struct AddResult {
  AddError error = AddError::kNone;
  std::string message;
  bool ok() const { return error == AddError::kNone; }
};

struct SchedulerStats {
  int32_t num_waiting = 0;
  int32_t num_running = 0;
  uint64_t num_preemptions = 0;
  kvcache::KVCacheStats kv;  // kv.usage, kv.prefix_hit_rate(), ...
};

class Scheduler {
 public:
  static Result<Scheduler> Create(const SchedulerConfig& config);

  // Queues a request (status kWaiting). max_tokens < 0 means "up to
  // max_seq_len". Rejected, with both numbers in the message, if the request
  // could never run: prompt + max_tokens > max_seq_len, more KV blocks than
  // the pool holds, or (chunked prefill off) a prompt over the step budget.
  AddResult add_request(Request request);

  ScheduleOutput schedule();

  // Advances each request scheduled by the last schedule() by its tokens,
  // caches newly full KV blocks, appends sampled tokens and checks stop
  // conditions (stop token, then max_tokens / max_seq_len). Finished requests
  // are freed and forgotten; their last event says why. Requests aborted
  // since schedule() are skipped.
  std::vector<RequestEvent> update(const StepResult& result);

  // Ends a request now (client disconnect, stop string matched): frees its
  // blocks and forgets it. Error if the id is unknown (already finished).
  Status finish_request(uint64_t id, FinishReason reason);
  bool abort_request(uint64_t id) { return finish_request(id, FinishReason::kAbort).ok(); }

  // nullptr if unknown. Valid until the request finishes.
  const Request* get_request(uint64_t id) const;
  Request* mutable_request(uint64_t id);

  bool has_unfinished() const { return !requests_.empty(); }
  int32_t num_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return config_; }
  const kvcache::KVCacheManager& kv() const { return kv_; }

 private:
  explicit Scheduler(const SchedulerConfig& config);
  void emit(Request* r, int32_t n, ScheduleOutput* out);
  void preempt(Request* r);
  void insert_running(Request* r);
  void remove_from_queues(Request* r);

  SchedulerConfig config_;
  kvcache::KVCacheManager kv_;
  std::unordered_map<uint64_t, std::unique_ptr<Request>> requests_;
  std::deque<Request*> waiting_;   // FCFS; preempted requests go to the front
  std::vector<Request*> running_;  // ascending arrival_seq: the tail is preempted first
  std::vector<std::pair<uint64_t, int32_t>> scheduled_;  // last schedule(): (id, tokens)
  uint64_t next_arrival_ = 0;
  uint64_t num_preemptions_ = 0;
};

}  // namespace qs::engine
