// One generation request as the scheduler sees it. There are no prefill and
// decode phases: num_computed_tokens counts the tokens whose KV is in the
// cache, and a step runs tokens [num_computed_tokens, num_tokens()).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "grammar/compiled_grammar.h"
#include "grammar/matcher.h"
#include "sampling/rng.h"
#include "sampling/sampling_params.h"
#include "sampling/token_history.h"

namespace qs::engine {

enum class RequestStatus {
  kWaiting,
  kRunning,
  kPreempted,  // waiting again after its blocks were taken; recomputes from 0
  kFinishedStopped,
  kFinishedLength,
  kFinishedAborted,
};

enum class FinishReason { kNone, kStop, kLength, kAbort };

// OpenAI finish_reason spelling: "stop", "length", "abort"; "" for kNone.
std::string_view finish_reason_name(FinishReason r);

struct Request {
  uint64_t id = 0;
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  std::vector<int32_t> all_token_ids;  // prompt then output

  int32_t max_tokens = -1;              // output cap; < 0: up to the scheduler's max_seq_len
  int32_t min_tokens = 0;               // stop tokens are ignored before this many outputs
  std::vector<int32_t> stop_token_ids;  // e.g. EOS and <|im_end|>

  sampling::SamplingParams sampling;
  sampling::TokenHistory history;    // for penalties; kept by append_output()
  std::optional<sampling::Rng> rng;  // the engine seeds it (params.seed or entropy)

  // Structured output: set by the caller; the engine makes `matcher` from it
  // in add(), masks every sampled token with it, and ends the request (stop)
  // once the value is complete. With a grammar, min_tokens is ignored and
  // the grammar's eos ids always stop (even with ignore_eos).
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  std::shared_ptr<grammar::Matcher> matcher;

  // Set by the scheduler.
  RequestStatus status = RequestStatus::kWaiting;
  uint64_t arrival_seq = 0;         // admission order, smaller = older
  int32_t num_computed_tokens = 0;  // tokens with KV in the cache
  int32_t num_cached_tokens = -1;   // prefix-cache hit at first schedule; -1 = not yet
  int32_t num_preemptions = 0;
  int32_t stop_reason = -1;  // the stop token id, when stopped by one

  // Builds a request from its prompt (fills all_token_ids and history).
  static Request make(uint64_t id, std::vector<int32_t> prompt, int32_t max_tokens,
                      std::vector<int32_t> stop_token_ids = {});

  int32_t num_prompt_tokens() const { return static_cast<int32_t>(prompt_token_ids.size()); }
  int32_t num_output_tokens() const { return static_cast<int32_t>(output_token_ids.size()); }
  int32_t num_tokens() const { return static_cast<int32_t>(all_token_ids.size()); }
  bool is_finished() const {
    return status == RequestStatus::kFinishedStopped || status == RequestStatus::kFinishedLength ||
           status == RequestStatus::kFinishedAborted;
  }

  void append_output(int32_t token) {
    output_token_ids.push_back(token);
    all_token_ids.push_back(token);
    history.add_output(token);
  }
};

}  // namespace qs::engine
