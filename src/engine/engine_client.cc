#include "engine/engine_client.h"

#include "core/log.h"

namespace qs::engine {

bool RequestStream::next(TokenOutput* out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) return false;
  *out = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

void RequestStream::push(TokenOutput out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(out));
  }
  cv_.notify_one();
}

EngineClient::EngineClient(std::unique_ptr<Engine> engine)
    : engine_(std::move(engine)), config_(engine_->scheduler_config()) {
  snapshot_.stats = engine_->stats();
  thread_ = std::thread([this] { loop(); });
}

EngineClient::~EngineClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

SubmitResult EngineClient::submit(Request request) {
  SubmitResult r;
  request.id = next_id_.fetch_add(1);
  auto stream = std::make_shared<RequestStream>(request.id);
  std::future<AddResult> admitted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_ || stop_) {
      r.add = {AddError::kQueueFull, "the server is shutting down"};
      return r;
    }
    adds_.push_back({std::move(request), stream, {}});
    admitted = adds_.back().admitted.get_future();
  }
  cv_.notify_all();
  r.add = admitted.get();
  if (r.add.ok()) r.stream = std::move(stream);
  return r;
}

void EngineClient::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancels_.push_back(id);
  }
  cv_.notify_all();
}

void EngineClient::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  draining_ = true;
  snapshot_.draining = true;
  cv_.notify_all();
  idle_cv_.wait(lock, [&] { return idle_ && adds_.empty(); });
}

EngineSnapshot EngineClient::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void EngineClient::loop() {
  for (;;) {
    std::vector<PendingAdd> adds;
    std::vector<uint64_t> cancels;
    {
      std::unique_lock<std::mutex> lock(mu_);
      idle_ = !engine_->has_work();
      if (idle_) idle_cv_.notify_all();
      cv_.wait(lock,
               [&] { return stop_ || !adds_.empty() || !cancels_.empty() || engine_->has_work(); });
      if (stop_) break;
      adds.swap(adds_);
      cancels.swap(cancels_);
    }
    for (uint64_t id : cancels) {
      engine_->abort(id);
      streams_.erase(id);
    }
    for (auto& a : adds) {
      uint64_t id = a.request.id;
      AddResult res = engine_->add(std::move(a.request));
      if (res.ok()) streams_[id] = a.stream;
      a.admitted.set_value(res);
    }
    if (engine_->has_work()) {
      for (TokenOutput& o : engine_->step()) {
        auto it = streams_.find(o.request_id);
        if (it == streams_.end()) continue;
        bool done = o.finished;
        it->second->push(std::move(o));
        if (done) streams_.erase(it);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_.stats = engine_->stats();
    snapshot_.steps = engine_->num_steps();
  }
  // Shutting down: reject what is queued, end what is running.
  for (auto& a : adds_) a.admitted.set_value({AddError::kQueueFull, "the server is shutting down"});
  for (auto& [id, stream] : streams_) {
    TokenOutput o;
    o.request_id = id;
    o.finished = true;
    o.finish_reason = FinishReason::kAbort;
    o.error = "the server is shutting down";
    stream->push(std::move(o));
  }
}

}  // namespace qs::engine
