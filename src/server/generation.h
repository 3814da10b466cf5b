// One API request's generation: its n choices submitted to the engine, their
// token outputs turned into final text (stream decoding, stop strings held
// back across tokens, tool-call blocks held until parsed), with usage and
// latency metrics. Used by both the streaming and the whole-response paths,
// so both give the same text for the same tokens.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "grammar/structured_output.h"
#include "sampling/sampling_params.h"
#include "server/backend.h"
#include "server/metrics.h"
#include "server/openai_errors.h"
#include "server/openai_responses.h"
#include "server/stop_strings.h"
#include "tokenizer/stream_decoder.h"

namespace qs::server {

using Clock = std::chrono::steady_clock;

struct GenerationJob {
  std::vector<int32_t> prompt;  // token ids
  sampling::SamplingParams params;
  int32_t max_tokens = -1;  // < 0: up to the context length
  int32_t min_tokens = 0;
  std::vector<int32_t> stop_ids;  // token ids that end a choice
  std::vector<std::string> stop;  // stop strings
  bool include_stop = false;
  bool skip_special = true;
  int n = 1;
  bool parse_tools = false;     // hold <tool_call> blocks back and parse them at the end
  grammar::GrammarPtr grammar;  // constrained decoding (response_format, forced tools); may be null
};

// Progress of one choice: final text (and the logprobs of the tokens it
// covers); the last delta of a choice has finished set.
struct ChoiceDelta {
  int index = 0;
  std::string text;
  std::vector<TokenLogprob> logprobs;
  bool finished = false;
  FinishReason reason = FinishReason::kNone;
  std::vector<ToolCall> tool_calls;  // parsed at the end (reason kToolCalls)
  std::string full_content;          // with tool calls: the whole content, blocks removed
};

class Generation {
 public:
  // Submits the n choices (seed + i for choice i when seeded). Errors: 429
  // queue full, 503 shutting down, 400 too long / invalid.
  static ApiResult<std::unique_ptr<Generation>> Start(std::shared_ptr<Backend> backend,
                                                      Metrics* metrics, GenerationJob job,
                                                      Clock::time_point arrival);
  ~Generation();  // cancels the choices still running
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  // Waits up to `timeout` for outputs and reports them through on_delta.
  // Returns false once every choice has finished (or on an engine error,
  // then *error is set).
  bool poll(std::chrono::milliseconds timeout, const std::function<void(ChoiceDelta&&)>& on_delta,
            ApiError* error);
  // The client went away: frees every running choice's sequence.
  void cancel();
  bool done() const;

  Usage usage() const;  // prompt once, completion tokens over all choices
  int n() const { return static_cast<int>(choices_.size()); }

 private:
  struct Choice {
    uint64_t id = 0;
    std::shared_ptr<engine::RequestStream> stream;
    std::unique_ptr<tokenizer::StreamDecoder> decoder;
    std::unique_ptr<StopStringFilter> stop;
    std::string tool_text;  // parse_tools: all text so far
    size_t tool_emitted = 0;
    std::vector<TokenLogprob> pending_logprobs;
    int64_t tokens = 0;
    Clock::time_point first, last;
    bool finished = false;
  };
  Generation(std::shared_ptr<Backend> backend, Metrics* metrics, GenerationJob job,
             Clock::time_point arrival)
      : backend_(std::move(backend)), metrics_(metrics), job_(std::move(job)), arrival_(arrival) {}
  // Handles one engine output of choice i; false on an engine error.
  bool handle(int i, engine::TokenOutput& o, const std::function<void(ChoiceDelta&&)>& on_delta,
              ApiError* error);
  void finish(int i, FinishReason reason, std::string text,
              const std::function<void(ChoiceDelta&&)>& on_delta);
  std::string release_text(Choice& c, std::string text, bool at_end);

  std::shared_ptr<Backend> backend_;
  Metrics* metrics_;
  GenerationJob job_;
  Clock::time_point arrival_;
  std::vector<Choice> choices_;
  int64_t prompt_tokens_ = 0;
  int64_t cached_tokens_ = 0;
  bool first_token_seen_ = false;
};

}  // namespace qs::server
