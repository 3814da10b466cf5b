#include "engine/engine.h"

#include <algorithm>
#include <tuple>

#include "core/log.h"

namespace qs::engine {

Result<std::unique_ptr<Engine>> Engine::Create(Qwen2Model& model, const EngineConfig& config) {
  SchedulerConfig sc = config.scheduler;
  KVCacheShape probe = model.kv_shape(1, sc.block_size, config.kv_dtype);
  const size_t block_bytes = probe.bytes_per_token() * sc.block_size;
  if (sc.num_blocks <= 0) {
    // Room for every running sequence at full length, capped by the memory budget.
    size_t want = static_cast<size_t>(sc.max_batch_size) *
                  ((static_cast<size_t>(sc.max_seq_len) + sc.block_size - 1) / sc.block_size);
    size_t cap = std::max<size_t>(1, config.kv_cache_max_bytes / block_bytes);
    sc.num_blocks = static_cast<int32_t>(std::min(want, cap));
  }
  if (sc.max_seq_len > model.config().max_position_embeddings)
    return Status::Error("max_seq_len " + std::to_string(sc.max_seq_len) +
                         " exceeds the model's max_position_embeddings " +
                         std::to_string(model.config().max_position_embeddings));
  QS_RETURN_IF_ERROR(sc.validate());
  QS_ASSIGN_OR_RETURN(Scheduler sched, Scheduler::Create(sc));
  QS_ASSIGN_OR_RETURN(
      KVCache kv, KVCache::Create(model.kv_shape(sc.num_blocks, sc.block_size, config.kv_dtype)));
  QS_LOG(Info, "KV cache: " << sc.num_blocks << " blocks of " << sc.block_size << " tokens ("
                            << (kv.bytes() >> 20) << " MiB, " << dtype_name(config.kv_dtype)
                            << ")");
  return std::unique_ptr<Engine>(new Engine(model, std::move(sched), std::move(kv)));
}

AddResult Engine::add(Request request) {
  if (request.grammar) {
    const int32_t gv = request.grammar->vocab().size();
    if (gv > model_.config().vocab_size)
      return {AddError::kInvalid, "the grammar's vocabulary (" + std::to_string(gv) +
                                      " tokens) is larger than the model's (" +
                                      std::to_string(model_.config().vocab_size) + ")"};
    // The value ends with eos: it must stop the request whatever the stop settings.
    for (int32_t e : request.grammar->vocab().eos_ids())
      if (std::find(request.stop_token_ids.begin(), request.stop_token_ids.end(), e) ==
          request.stop_token_ids.end())
        request.stop_token_ids.push_back(e);
    request.min_tokens = 0;
    request.matcher = std::make_shared<grammar::Matcher>(request.grammar);
  }
  if (!request.rng) {
    request.rng = request.sampling.seed ? sampling::Rng(*request.sampling.seed)
                                        : sampling::Rng::from_entropy();
  }
  return scheduler_.add_request(std::move(request));
}

void Engine::abort(uint64_t id) { scheduler_.abort_request(id); }

std::vector<TokenOutput> Engine::step() {
  std::vector<TokenOutput> outputs;
  ScheduleOutput plan = scheduler_.schedule();
  if (plan.empty()) return outputs;
  ++num_steps_;

  batch_.clear();
  std::vector<uint64_t> sampled_ids;  // request of each logits row
  for (const ScheduledSeq& s : plan.seqs) {
    batch_.add_sequence(s.token_ids.data(), s.num_tokens(), s.start_pos, s.block_table,
                        s.needs_logits);
    if (s.needs_logits) sampled_ids.push_back(s.request_id);
  }
  const size_t V = model_.config().vocab_size;
  logits_.resize(sampled_ids.size() * V);
  Status st = model_.forward(batch_, kv_, logits_.data());
  if (!st.ok()) {
    // A batch the scheduler built should always be valid: fail its requests, keep serving.
    QS_LOG(Error, "forward failed: " << st.message());
    for (const ScheduledSeq& s : plan.seqs) {
      TokenOutput o;
      o.request_id = s.request_id;
      o.finished = true;
      o.finish_reason = FinishReason::kAbort;
      o.error = "internal error: " + st.message();
      scheduler_.finish_request(s.request_id, FinishReason::kAbort);
      outputs.push_back(std::move(o));
    }
    return outputs;
  }

  StepResult result;
  std::unordered_map<uint64_t, sampling::SampleResult> samples;
  // Grammar matchers of the sampled rows; kept alive past update(), which
  // drops finished requests.
  std::unordered_map<uint64_t, std::shared_ptr<grammar::Matcher>> matchers;
  for (size_t r = 0; r < sampled_ids.size(); ++r) {
    Request* req = scheduler_.mutable_request(sampled_ids[r]);
    const uint8_t* mask = nullptr;
    if (req->matcher) {
      // Tokens left before the length limit, so the grammar can close the value in time.
      int32_t remaining = scheduler_.config().max_seq_len - req->num_tokens();
      if (req->max_tokens >= 0)
        remaining = std::min(remaining, req->max_tokens - req->num_output_tokens());
      mask_.assign(V, 0);  // ids past the grammar's vocabulary stay disallowed
      req->matcher->fill_mask(mask_.data(), std::max(0, remaining));
      mask = mask_.data();
      matchers.emplace(req->id, req->matcher);
    }
    auto s = sampler_.sample(logits_.data() + r * V, static_cast<int32_t>(V), req->sampling,
                             req->history, *req->rng, mask);
    if (!s.ok()) {
      TokenOutput o;
      o.request_id = req->id;
      o.finished = true;
      o.finish_reason = FinishReason::kAbort;
      o.error = s.status().message();
      scheduler_.finish_request(req->id, FinishReason::kAbort);
      outputs.push_back(std::move(o));
      continue;
    }
    result.sampled.push_back({req->id, s->token});
    samples.emplace(req->id, std::move(s).value());
  }

  // Finished requests leave the scheduler in update(): read their counts first.
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> counts;  // id -> (prompt, cached)
  for (const ScheduledSeq& s : plan.seqs)
    if (const Request* req = scheduler_.get_request(s.request_id))
      counts[s.request_id] = {req->num_prompt_tokens(), std::max(0, req->num_cached_tokens)};
  for (const RequestEvent& ev : scheduler_.update(result)) {
    TokenOutput o;
    o.request_id = ev.request_id;
    o.token = ev.new_token;
    o.finished = ev.finished;
    o.finish_reason = ev.finish_reason;
    if (auto m = matchers.find(ev.request_id); m != matchers.end() && ev.new_token >= 0)
      advance_grammar(*m->second, &o);
    if (auto c = counts.find(ev.request_id); c != counts.end())
      std::tie(o.num_prompt_tokens, o.num_cached_tokens) = c->second;
    auto it = samples.find(ev.request_id);
    if (it != samples.end() && ev.new_token >= 0) {
      o.logprob = it->second.logprob;
      o.top_logprobs = std::move(it->second.top_logprobs);
    }
    outputs.push_back(std::move(o));
  }
  return outputs;
}

void Engine::advance_grammar(grammar::Matcher& m, TokenOutput* o) {
  if (!m.accept(o->token)) {
    // The token was sampled under the matcher's own mask: this is a bug, not a user error.
    if (!o->finished) (void)scheduler_.finish_request(o->request_id, FinishReason::kAbort);
    o->finished = true;
    o->finish_reason = FinishReason::kAbort;
    o->error = "internal error: the grammar rejected sampled token " + std::to_string(o->token);
    return;
  }
  // Complete, and nothing but eos may follow (or eos was accepted but did not
  // stop the request): end it now rather than spend a step on the eos.
  if (!o->finished && (m.is_terminated() || m.must_end())) {
    (void)scheduler_.finish_request(o->request_id, FinishReason::kStop);
    o->finished = true;
    o->finish_reason = FinishReason::kStop;
  }
}

}  // namespace qs::engine
