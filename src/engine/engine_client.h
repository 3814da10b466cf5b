// The thread-safe face of the engine: HTTP handlers submit requests and read
// their token outputs from a RequestStream; one loop thread owns the Engine
// and steps it while there is work (llama.cpp's server-queue shape).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"

namespace qs::engine {

// The outputs of one request, in order. Filled by the loop thread.
class RequestStream {
 public:
  explicit RequestStream(uint64_t id) : id_(id) {}
  uint64_t id() const { return id_; }
  // Waits up to `timeout` for the next output; false if none arrived.
  bool next(TokenOutput* out, std::chrono::milliseconds timeout);
  void push(TokenOutput out);

 private:
  uint64_t id_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TokenOutput> queue_;
};

struct SubmitResult {
  AddResult add;  // add.ok() or why not (kQueueFull -> 429/503, kTooLong/kInvalid -> 400)
  std::shared_ptr<RequestStream> stream;
};

struct EngineSnapshot {
  SchedulerStats stats;
  uint64_t steps = 0;
  bool draining = false;
};

class EngineClient {
 public:
  explicit EngineClient(std::unique_ptr<Engine> engine);
  ~EngineClient();  // aborts what is left and joins the loop
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // Assigns the request an id and hands it to the loop; waits for admission.
  SubmitResult submit(Request request);
  // The client went away: free the request's slot and KV blocks.
  void cancel(uint64_t id);
  // Stops admitting; returns once every admitted request has finished.
  void drain();
  EngineSnapshot snapshot() const;
  const SchedulerConfig& scheduler_config() const { return config_; }

 private:
  struct PendingAdd {
    Request request;
    std::shared_ptr<RequestStream> stream;
    std::promise<AddResult> admitted;
  };
  void loop();

  std::unique_ptr<Engine> engine_;
  SchedulerConfig config_;
  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PendingAdd> adds_;
  std::vector<uint64_t> cancels_;
  bool draining_ = false, stop_ = false, idle_ = true;
  std::condition_variable idle_cv_;
  EngineSnapshot snapshot_;

  std::unordered_map<uint64_t, std::shared_ptr<RequestStream>> streams_;  // loop thread only
  std::thread thread_;
};

}  // namespace qs::engine
