// POST /v1/chat/completions and /v1/completions: parse, build the job, start
// the generation, then either collect it into one JSON body or stream it as
// server-sent events (chunked), cancelling the sequences if the client goes.
#include <chrono>

#include "server/http_context.h"
#include "server/openai_responses.h"
#include "server/request_builder.h"
#include "server/sse.h"

namespace qs::server {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr auto kKeepAlive = std::chrono::seconds(2);  // SSE comment when nothing else was sent

// Writes SSE text to a sink; remembers a failed write (the client went away).
class SseWriter {
 public:
  explicit SseWriter(httplib::DataSink& sink) : sink_(sink), last_(Clock::now()) {}
  bool write(const std::string& s) {
    if (broken_) return false;
    if (!sink_.write(s.data(), s.size())) broken_ = true;
    last_ = Clock::now();
    return !broken_;
  }
  void keep_alive() {
    if (Clock::now() - last_ > kKeepAlive) write(sse_comment("keep-alive"));
  }
  bool broken() const { return broken_; }

 private:
  httplib::DataSink& sink_;
  Clock::time_point last_;
  bool broken_ = false;
};

// Runs a generation to the end, handing each delta to on_delta; false (and
// *error set) if the engine failed it.
bool collect(Generation& gen, const std::function<void(ChoiceDelta&&)>& on_delta, ApiError* error) {
  while (gen.poll(kPollInterval, on_delta, error)) {
  }
  return error->message.empty();
}

// Polls a streaming generation to its end, then writes the error or the usage
// chunk and [DONE]. A client that goes away cancels the generation (its
// sequences are freed at once). Returns false when the stream was cut.
bool stream_to_end(SseWriter& w, httplib::DataSink& sink, Generation& gen,
                   const std::function<void(ChoiceDelta&&)>& on_delta,
                   const std::function<nlohmann::json(const Usage&)>& usage_chunk,
                   bool include_usage) {
  ApiError err;
  while (!w.broken() && gen.poll(kPollInterval, on_delta, &err)) w.keep_alive();
  if (w.broken()) {
    gen.cancel();
    return false;
  }
  if (!err.message.empty())
    w.write(sse_error(err));
  else if (include_usage)
    w.write(sse_event(usage_chunk(gen.usage())));
  w.write(sse_done());
  if (w.broken()) return false;
  sink.done();
  return true;
}

// State a streaming response keeps alive until its last byte.
struct StreamState {
  std::unique_ptr<Generation> gen;
  StreamHeader header;
  std::unique_ptr<InflightGuard> inflight;
  std::vector<int64_t> text_offset;  // completions logprobs: bytes sent per choice
  bool echo = false;
  std::string prompt_text;
};

ApiResult<std::string> resolve(const std::string& requested, const Backend& b) {
  return resolve_model(requested, b.names);
}

}  // namespace

void handle_chat(HttpServer::Impl& s, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point arrival = Clock::now();
  std::shared_ptr<Backend> b = serving_backend(s, res);
  if (!b) return;
  ApiResult<ChatCompletionRequest> r = parse_chat_request(req.body, s.opts.limits);
  if (!r.ok()) return send_error(res, r.error());
  ApiResult<std::string> model = resolve(r->model, *b);
  if (!model.ok()) return send_error(res, model.error());
  ApiResult<GenerationJob> job = build_chat_job(*r, *b);
  if (!job.ok()) return send_error(res, job.error());
  auto guard = std::make_unique<InflightGuard>(&s);
  ApiResult<std::unique_ptr<Generation>> started =
      Generation::Start(b, &s.metrics, std::move(job).value(), arrival);
  if (!started.ok()) return send_error(res, started.error());
  std::unique_ptr<Generation> gen = std::move(started).value();
  const bool logprobs = r->logprobs;

  if (!r->sampling.stream) {
    ChatCompletion c;
    c.id = make_id("chatcmpl-");
    c.created = unix_now();
    c.model = *model;
    c.choices.resize(gen->n());
    for (int i = 0; i < gen->n(); ++i) {
      c.choices[i].index = i;
      if (logprobs) c.choices[i].logprobs.emplace();
    }
    ApiError err;
    bool ok = collect(
        *gen,
        [&](ChoiceDelta&& d) {
          ChatChoice& ch = c.choices[d.index];
          ch.content += d.text;
          if (ch.logprobs)
            ch.logprobs->insert(ch.logprobs->end(), d.logprobs.begin(), d.logprobs.end());
          if (d.finished) {
            ch.finish_reason = d.reason;
            if (!d.tool_calls.empty()) {
              ch.tool_calls = std::move(d.tool_calls);
              ch.content = std::move(d.full_content);
            }
          }
        },
        &err);
    if (!ok) return send_error(res, err);
    c.usage = gen->usage();
    return send_json(res, to_body(chat_completion_json(c)));
  }

  auto st = std::make_shared<StreamState>();
  st->gen = std::move(gen);
  st->inflight = std::move(guard);
  st->header = {make_id("chatcmpl-"), unix_now(), *model, r->sampling.include_usage};
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st, logprobs](size_t, httplib::DataSink& sink) {
        SseWriter w(sink);
        const StreamHeader& h = st->header;
        for (int i = 0; i < st->gen->n(); ++i) w.write(sse_event(chat_chunk_role(h, i)));
        auto on_delta = [&](ChoiceDelta&& d) {
          if (!d.text.empty() || (logprobs && !d.logprobs.empty()))
            w.write(sse_event(
                chat_chunk_content(h, d.index, d.text, logprobs ? &d.logprobs : nullptr)));
          if (!d.finished) return;
          for (size_t k = 0; k < d.tool_calls.size(); ++k) {
            const ToolCall& tc = d.tool_calls[k];
            w.write(sse_event(chat_chunk_tool_call(h, d.index, static_cast<int>(k), tc.id, tc.name,
                                                   tc.arguments)));
          }
          w.write(sse_event(chat_chunk_finish(h, d.index, d.reason)));
        };
        return stream_to_end(
            w, sink, *st->gen, on_delta, [&](const Usage& u) { return chat_chunk_usage(h, u); },
            h.include_usage);
      },
      [st](bool) { st->gen->cancel(); });
}

void handle_completion(HttpServer::Impl& s, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point arrival = Clock::now();
  std::shared_ptr<Backend> b = serving_backend(s, res);
  if (!b) return;
  ApiResult<CompletionRequest> r = parse_completion_request(req.body, s.opts.limits);
  if (!r.ok()) return send_error(res, r.error());
  ApiResult<std::string> model = resolve(r->model, *b);
  if (!model.ok()) return send_error(res, model.error());
  std::string prompt_text;
  ApiResult<GenerationJob> job = build_completion_job(*r, *b, &prompt_text);
  if (!job.ok()) return send_error(res, job.error());
  auto guard = std::make_unique<InflightGuard>(&s);
  ApiResult<std::unique_ptr<Generation>> started =
      Generation::Start(b, &s.metrics, std::move(job).value(), arrival);
  if (!started.ok()) return send_error(res, started.error());
  std::unique_ptr<Generation> gen = std::move(started).value();
  const bool logprobs = r->logprobs.has_value();
  const bool echo = r->echo;

  if (!r->sampling.stream) {
    Completion c;
    c.id = make_id("cmpl-");
    c.created = unix_now();
    c.model = *model;
    c.choices.resize(gen->n());
    for (int i = 0; i < gen->n(); ++i) {
      c.choices[i].index = i;
      if (echo) c.choices[i].text = prompt_text;
      if (logprobs) c.choices[i].logprobs.emplace();
      c.choices[i].logprobs_text_offset = echo ? static_cast<int64_t>(prompt_text.size()) : 0;
    }
    ApiError err;
    bool ok = collect(
        *gen,
        [&](ChoiceDelta&& d) {
          CompletionChoice& ch = c.choices[d.index];
          ch.text += d.text;
          if (ch.logprobs)
            ch.logprobs->insert(ch.logprobs->end(), d.logprobs.begin(), d.logprobs.end());
          if (d.finished) ch.finish_reason = d.reason;
        },
        &err);
    if (!ok) return send_error(res, err);
    c.usage = gen->usage();
    return send_json(res, to_body(completion_json(c)));
  }

  auto st = std::make_shared<StreamState>();
  st->gen = std::move(gen);
  st->inflight = std::move(guard);
  st->header = {make_id("cmpl-"), unix_now(), *model, r->sampling.include_usage};
  st->echo = echo;
  st->prompt_text = std::move(prompt_text);
  st->text_offset.assign(st->gen->n(), echo ? static_cast<int64_t>(st->prompt_text.size()) : 0);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st, logprobs](size_t, httplib::DataSink& sink) {
        SseWriter w(sink);
        const StreamHeader& h = st->header;
        if (st->echo) {
          for (int i = 0; i < st->gen->n(); ++i) {
            CompletionChoice ch;
            ch.index = i;
            ch.text = st->prompt_text;
            ch.finish_reason = FinishReason::kNone;
            w.write(sse_event(completion_chunk(h, ch)));
          }
        }
        auto on_delta = [&](ChoiceDelta&& d) {
          if (d.text.empty() && !d.finished && !(logprobs && !d.logprobs.empty())) return;
          CompletionChoice ch;
          ch.index = d.index;
          ch.text = std::move(d.text);
          if (logprobs) ch.logprobs = std::move(d.logprobs);
          ch.logprobs_text_offset = st->text_offset[d.index];
          st->text_offset[d.index] += static_cast<int64_t>(ch.text.size());
          ch.finish_reason = d.finished ? d.reason : FinishReason::kNone;
          w.write(sse_event(completion_chunk(h, ch)));
        };
        return stream_to_end(
            w, sink, *st->gen, on_delta,
            [&](const Usage& u) { return completion_chunk_usage(h, u); }, h.include_usage);
      },
      [st](bool) { st->gen->cancel(); });
}

}  // namespace qs::server
