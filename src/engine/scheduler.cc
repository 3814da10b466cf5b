#include "engine/scheduler.h"

#include <algorithm>
#include <string>

#include "core/log.h"

namespace qs::engine {

using kvcache::Allocation;

Status SchedulerConfig::validate() const {
  auto bad = [](const std::string& m) { return Status::Error("scheduler config: " + m); };
  if (max_batch_size < 1) return bad("max_batch_size must be >= 1");
  if (max_num_batched_tokens < 1) return bad("max_num_batched_tokens must be >= 1");
  if (max_seq_len < 1) return bad("max_seq_len must be >= 1");
  if (block_size < 1) return bad("block_size must be >= 1");
  if (num_blocks < 1) return bad("num_blocks must be >= 1 (is the KV memory budget too small?)");
  if (max_waiting < 0) return bad("max_waiting must be >= 0");
  return Status::Ok();
}

Result<Scheduler> Scheduler::Create(const SchedulerConfig& config) {
  QS_RETURN_IF_ERROR(config.validate());
  return Scheduler(config);
}

Scheduler::Scheduler(const SchedulerConfig& config)
    : config_(config), kv_(config.num_blocks, config.block_size, config.enable_prefix_caching) {}

AddResult Scheduler::add_request(Request request) {
  auto fail = [](AddError e, std::string m) { return AddResult{e, std::move(m)}; };
  const int64_t p = request.num_prompt_tokens();
  if (p == 0) return fail(AddError::kInvalid, "the prompt is empty");
  if (requests_.count(request.id)) {
    return fail(AddError::kInvalid, "request id " + std::to_string(request.id) + " is in use");
  }
  if (request.num_tokens() != p || request.num_output_tokens() != 0) {
    return fail(AddError::kInvalid, "a new request must have no output tokens");
  }
  if (request.max_tokens < 0) {
    request.max_tokens = static_cast<int32_t>(std::max<int64_t>(0, config_.max_seq_len - p));
    if (request.max_tokens == 0) {
      return fail(AddError::kTooLong, "the prompt has " + std::to_string(p) +
                                          " tokens, which leaves no room under the maximum "
                                          "sequence length of " +
                                          std::to_string(config_.max_seq_len) +
                                          " tokens; shorten the prompt");
    }
  }
  if (request.max_tokens == 0) return fail(AddError::kInvalid, "max_tokens must be >= 1");
  const int64_t total = p + request.max_tokens;
  if (total > config_.max_seq_len) {
    return fail(AddError::kTooLong,
                "the prompt has " + std::to_string(p) + " tokens and max_tokens is " +
                    std::to_string(request.max_tokens) + ": " + std::to_string(total) +
                    " tokens exceed the maximum sequence length of " +
                    std::to_string(config_.max_seq_len) +
                    "; shorten the prompt or lower max_tokens");
  }
  // The last sampled token is never run through the model, so at most
  // total - 1 tokens hold KV.
  const int32_t need = kv_.blocks_for_tokens(total - 1);
  if (need > kv_.num_blocks()) {
    return fail(AddError::kTooLong,
                "the request needs " + std::to_string(need) + " KV blocks (" +
                    std::to_string(total - 1) + " tokens of " + std::to_string(config_.block_size) +
                    ") but the KV cache has only " + std::to_string(kv_.num_blocks()) +
                    " blocks; lower max_tokens or give the cache more memory");
  }
  if (!config_.enable_chunked_prefill && p > config_.max_num_batched_tokens) {
    return fail(AddError::kTooLong, "the prompt has " + std::to_string(p) +
                                        " tokens but one step runs at most " +
                                        std::to_string(config_.max_num_batched_tokens) +
                                        " (chunked prefill is off); shorten the prompt");
  }
  if (num_waiting() >= config_.max_waiting) {
    return fail(AddError::kQueueFull, "the server is busy: " + std::to_string(num_waiting()) +
                                          " requests are already waiting; retry later");
  }

  auto owned = std::make_unique<Request>(std::move(request));
  Request* r = owned.get();
  r->status = RequestStatus::kWaiting;
  r->arrival_seq = next_arrival_++;
  r->num_computed_tokens = 0;
  r->num_cached_tokens = -1;
  requests_.emplace(r->id, std::move(owned));
  waiting_.push_back(r);
  return AddResult{};
}

void Scheduler::emit(Request* r, int32_t n, ScheduleOutput* out) {
  ScheduledSeq s;
  s.request_id = r->id;
  s.start_pos = r->num_computed_tokens;
  s.token_ids.assign(r->all_token_ids.begin() + s.start_pos,
                     r->all_token_ids.begin() + s.start_pos + n);
  auto table = kv_.block_table(r->id);
  s.block_table.assign(table.begin(), table.end());
  s.needs_logits = s.start_pos + n == r->num_tokens();
  out->total_tokens += n;
  out->seqs.push_back(std::move(s));
  scheduled_.emplace_back(r->id, n);
}

void Scheduler::preempt(Request* r) {
  kv_.free(r->id);
  r->num_computed_tokens = 0;
  r->status = RequestStatus::kPreempted;
  ++r->num_preemptions;
  ++num_preemptions_;
  waiting_.push_front(r);
}

void Scheduler::insert_running(Request* r) {
  auto it = std::upper_bound(running_.begin(), running_.end(), r, [](Request* a, Request* b) {
    return a->arrival_seq < b->arrival_seq;
  });
  running_.insert(it, r);
}

ScheduleOutput Scheduler::schedule() {
  ScheduleOutput out;
  scheduled_.clear();
  int32_t budget = config_.max_num_batched_tokens;

  // 1. Running requests, oldest first.
  size_t i = 0;
  while (i < running_.size() && budget > 0) {
    Request* r = running_[i];
    const int32_t n = std::min(r->num_tokens() - r->num_computed_tokens, budget);
    if (n <= 0) {  // nothing to run (no token was sampled for it last step)
      ++i;
      continue;
    }
    bool fits = false;
    for (;;) {
      if (kv_.allocate_slots(r->id, r->num_computed_tokens, n) == Allocation::Kind::kOk) {
        fits = true;
        break;
      }
      // Out of blocks: the newest running request gives its blocks back. It
      // is never one already scheduled this step (those sit before i).
      Request* victim = running_.back();
      running_.pop_back();
      preempt(victim);
      out.preempted_ids.push_back(victim->id);
      if (victim == r) break;
    }
    if (!fits) break;
    emit(r, n, &out);
    budget -= n;
    ++i;
  }

  // 2. Waiting requests, FCFS, unless this step already had to preempt.
  if (out.preempted_ids.empty()) {
    while (!waiting_.empty() && budget > 0 &&
           static_cast<int32_t>(running_.size()) < config_.max_batch_size) {
      Request* r = waiting_.front();
      kvcache::ComputedBlocks hit = kv_.get_computed_blocks(r->all_token_ids);
      const int32_t remaining = r->num_tokens() - hit.num_tokens;
      const bool resumed = r->status == RequestStatus::kPreempted;
      if (!config_.enable_chunked_prefill && !resumed && remaining > budget) break;
      const int32_t n = std::min(remaining, budget);
      if (kv_.allocate_slots(r->id, 0, n, &hit) != Allocation::Kind::kOk) break;
      waiting_.pop_front();
      r->num_computed_tokens = hit.num_tokens;
      if (r->num_cached_tokens < 0) r->num_cached_tokens = hit.num_tokens;
      r->status = RequestStatus::kRunning;
      insert_running(r);
      emit(r, n, &out);
      budget -= n;
    }
  }
  return out;
}

std::vector<RequestEvent> Scheduler::update(const StepResult& result) {
  std::vector<RequestEvent> events;
  for (const auto& [id, n] : scheduled_) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;  // finished or aborted since schedule()
    Request* r = it->second.get();
    if (r->status != RequestStatus::kRunning) continue;
    r->num_computed_tokens += n;
    kv_.cache_blocks(id, r->all_token_ids, r->num_computed_tokens);

    const StepResult::Sampled* s = nullptr;
    for (const auto& x : result.sampled) {
      if (x.request_id == id) {
        s = &x;
        break;
      }
    }
    if (!s) continue;
    if (r->num_computed_tokens != r->num_tokens()) {
      QS_LOG(Warn, "scheduler: ignoring a token sampled for request "
                       << id << " mid-prompt (" << r->num_computed_tokens << " of "
                       << r->num_tokens() << " tokens computed)");
      continue;
    }
    r->append_output(s->token);
    RequestEvent ev;
    ev.request_id = id;
    ev.new_token = s->token;
    const bool is_stop = r->num_output_tokens() >= r->min_tokens &&
                         std::find(r->stop_token_ids.begin(), r->stop_token_ids.end(), s->token) !=
                             r->stop_token_ids.end();
    if (is_stop) {
      ev.finished = true;
      ev.finish_reason = FinishReason::kStop;
      ev.stop_token = s->token;
      r->stop_reason = s->token;
      r->status = RequestStatus::kFinishedStopped;
    } else if (r->num_output_tokens() >= r->max_tokens || r->num_tokens() >= config_.max_seq_len) {
      ev.finished = true;
      ev.finish_reason = FinishReason::kLength;
      r->status = RequestStatus::kFinishedLength;
    }
    if (ev.finished) {
      remove_from_queues(r);
      kv_.free(id);
      requests_.erase(it);
    }
    events.push_back(ev);
  }
  scheduled_.clear();
  return events;
}

void Scheduler::remove_from_queues(Request* r) {
  if (auto it = std::find(running_.begin(), running_.end(), r); it != running_.end()) {
    running_.erase(it);
  }
  if (auto it = std::find(waiting_.begin(), waiting_.end(), r); it != waiting_.end()) {
    waiting_.erase(it);
  }
}

Status Scheduler::finish_request(uint64_t id, FinishReason reason) {
  auto it = requests_.find(id);
  if (it == requests_.end()) {
    return Status::Error("request " + std::to_string(id) + " is not queued or running");
  }
  Request* r = it->second.get();
  remove_from_queues(r);
  kv_.free(id);
  requests_.erase(it);
  return Status::Ok();
}

const Request* Scheduler::get_request(uint64_t id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
}

Request* Scheduler::mutable_request(uint64_t id) {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.num_waiting = num_waiting();
  s.num_running = num_running();
  s.num_preemptions = num_preemptions_;
  s.kv = kv_.stats();
  return s;
}

}  // namespace qs::engine
