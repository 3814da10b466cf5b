#include "server/generation.h"

#include <algorithm>

#include "tokenizer/tool_calls.h"

namespace qs::server {

namespace {

constexpr const char* kShuttingDown = "the server is shutting down";

std::vector<uint8_t> to_bytes(std::string_view s) { return {s.begin(), s.end()}; }

}  // namespace

ApiResult<std::unique_ptr<Generation>> Generation::Start(std::shared_ptr<Backend> backend,
                                                         Metrics* metrics, GenerationJob job,
                                                         Clock::time_point arrival) {
  std::unique_ptr<Generation> g(
      new Generation(std::move(backend), metrics, std::move(job), arrival));
  g->prompt_tokens_ = static_cast<int64_t>(g->job_.prompt.size());
  const int n = std::max(1, g->job_.n);
  g->choices_.reserve(n);
  for (int i = 0; i < n; ++i) {
    engine::Request r =
        engine::Request::make(0, g->job_.prompt, g->job_.max_tokens, g->job_.stop_ids);
    r.sampling = g->job_.params;
    if (r.sampling.seed) r.sampling.seed = *r.sampling.seed + static_cast<uint64_t>(i);
    r.min_tokens = g->job_.min_tokens;
    r.grammar = g->job_.grammar;  // the engine gives each choice its own matcher
    engine::SubmitResult sub = g->backend_->client->submit(std::move(r));
    if (!sub.add.ok()) {
      // The destructor cancels the choices already submitted.
      switch (sub.add.error) {
        case engine::AddError::kQueueFull:
          if (sub.add.message.find("shutting down") != std::string::npos)
            return ApiError::Overloaded("The server is shutting down; retry on another instance.");
          return ApiError::RateLimited("The server's waiting queue is full (" + sub.add.message +
                                       "); retry later.");
        default:
          return ApiError::InvalidRequest(sub.add.message, "messages");
      }
    }
    Choice c;
    c.id = sub.stream->id();
    c.stream = std::move(sub.stream);
    c.decoder =
        std::make_unique<tokenizer::StreamDecoder>(*g->backend_->tokenizer, g->job_.skip_special);
    c.stop = std::make_unique<StopStringFilter>(g->job_.stop, g->job_.include_stop);
    g->choices_.push_back(std::move(c));
  }
  if (metrics) metrics->add_prompt_tokens(g->prompt_tokens_);
  return g;
}

Generation::~Generation() {
  for (Choice& c : choices_)
    if (!c.finished) backend_->client->cancel(c.id);
}

bool Generation::done() const {
  return std::all_of(choices_.begin(), choices_.end(), [](const Choice& c) { return c.finished; });
}

void Generation::cancel() {
  bool any = false;
  for (Choice& c : choices_) {
    if (c.finished) continue;
    backend_->client->cancel(c.id);
    c.finished = true;
    any = true;
  }
  if (any && metrics_) metrics_->count_cancelled();
}

Usage Generation::usage() const {
  Usage u;
  u.prompt_tokens = prompt_tokens_;
  for (const Choice& c : choices_) u.completion_tokens += c.tokens;
  u.cached_tokens = cached_tokens_;
  return u;
}

bool Generation::poll(std::chrono::milliseconds timeout,
                      const std::function<void(ChoiceDelta&&)>& on_delta, ApiError* error) {
  bool any = false;
  engine::TokenOutput o;
  for (size_t i = 0; i < choices_.size(); ++i) {
    while (!choices_[i].finished && choices_[i].stream->next(&o, std::chrono::milliseconds(0))) {
      any = true;
      if (!handle(static_cast<int>(i), o, on_delta, error)) return false;
    }
  }
  if (done()) return false;
  if (!any) {
    for (size_t i = 0; i < choices_.size(); ++i) {
      if (choices_[i].finished) continue;
      if (choices_[i].stream->next(&o, timeout) && !handle(static_cast<int>(i), o, on_delta, error))
        return false;
      break;
    }
  }
  return !done();
}

std::string Generation::release_text(Choice& c, std::string text, bool at_end) {
  std::string out = c.stop->push(text);
  if (at_end && !c.stop->stopped()) out += c.stop->flush();
  if (!job_.parse_tools) return out;
  // Tool calls: text that may be (or become) a <tool_call> block is held; the
  // rest of it is settled by finish() once the whole output is known.
  c.tool_text += out;
  if (at_end || c.stop->stopped() || tokenizer::may_start_tool_call(c.tool_text)) return "";
  std::string emit = c.tool_text.substr(c.tool_emitted);
  c.tool_emitted = c.tool_text.size();
  return emit;
}

bool Generation::handle(int i, engine::TokenOutput& o,
                        const std::function<void(ChoiceDelta&&)>& on_delta, ApiError* error) {
  Choice& c = choices_[i];
  if (c.finished) return true;  // e.g. outputs that raced a stop-string cancel
  if (!o.error.empty()) {
    *error = o.error == kShuttingDown ? ApiError::Overloaded("The server is shutting down.")
                                      : ApiError::Internal(o.error);
    for (Choice& other : choices_) {
      if (!other.finished && other.id != c.id) backend_->client->cancel(other.id);
      other.finished = true;
    }
    return false;
  }
  if (i == 0 && o.num_prompt_tokens > 0) cached_tokens_ = o.num_cached_tokens;
  std::string text;
  if (o.token >= 0) {
    Clock::time_point now = Clock::now();
    if (!first_token_seen_) {
      first_token_seen_ = true;
      if (metrics_) metrics_->observe_ttft(std::chrono::duration<double>(now - arrival_).count());
    }
    if (c.tokens == 0) c.first = now;
    c.last = now;
    ++c.tokens;
    if (metrics_) metrics_->add_generation_tokens(1);
    text = c.decoder->push(o.token);
    if (job_.params.logprobs) {
      const tokenizer::Tokenizer& tok = *backend_->tokenizer;
      TokenLogprob lp;
      lp.token = tok.decode({o.token});
      lp.bytes = to_bytes(tok.token_bytes(o.token));
      lp.logprob = o.logprob;
      for (const sampling::TokenLogprob& t : o.top_logprobs)
        lp.top.push_back({tok.decode({t.token}), t.logprob, to_bytes(tok.token_bytes(t.token))});
      c.pending_logprobs.push_back(std::move(lp));
    }
  }
  if (o.finished) text += c.decoder->flush();
  std::string out = release_text(c, std::move(text), o.finished);
  const bool stopped = c.stop->stopped();
  if (stopped && !o.finished) backend_->client->cancel(c.id);  // a stop string ended it
  if (o.finished || stopped) {
    FinishReason reason = !stopped && o.finish_reason == engine::FinishReason::kLength
                              ? FinishReason::kLength
                              : FinishReason::kStop;
    finish(i, reason, std::move(out), on_delta);
  } else if (!out.empty()) {
    ChoiceDelta d;
    d.index = i;
    d.text = std::move(out);
    d.logprobs.swap(c.pending_logprobs);
    on_delta(std::move(d));
  }
  return true;
}

void Generation::finish(int i, FinishReason reason, std::string text,
                        const std::function<void(ChoiceDelta&&)>& on_delta) {
  Choice& c = choices_[i];
  c.finished = true;
  ChoiceDelta d;
  d.index = i;
  d.finished = true;
  d.reason = reason;
  d.text = std::move(text);
  if (job_.parse_tools) {
    tokenizer::ParsedOutput parsed = tokenizer::parse_tool_calls(c.tool_text);
    std::string emitted = c.tool_text.substr(0, c.tool_emitted);
    if (!parsed.tool_calls.empty()) {
      for (tokenizer::ToolCall& t : parsed.tool_calls)
        d.tool_calls.push_back({t.id, "function", t.name, t.arguments});
      d.reason = FinishReason::kToolCalls;
      d.full_content = parsed.content;
      // Streaming: the content not yet sent (what was sent is a prefix of it).
      if (parsed.content.compare(0, emitted.size(), emitted) == 0)
        d.text += parsed.content.substr(emitted.size());
    } else {
      d.full_content = c.tool_text;
      d.text += c.tool_text.substr(c.tool_emitted);
    }
  }
  d.logprobs.swap(c.pending_logprobs);
  if (metrics_) {
    Clock::time_point now = Clock::now();
    if (c.tokens > 1)
      metrics_->observe_tpot(std::chrono::duration<double>(c.last - c.first).count() /
                             static_cast<double>(c.tokens - 1));
    metrics_->observe_e2e(std::chrono::duration<double>(now - arrival_).count());
  }
  on_delta(std::move(d));
}

}  // namespace qs::server
