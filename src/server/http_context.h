// Internal to the server layer: the state the HTTP handlers share, and the
// handler functions (split by file: http_server.cc has routing, auth, CORS and
// the small endpoints; completion_handlers.cc the generation endpoints).
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "server/http_server.h"

namespace qs::server {

struct HttpServer::Impl {
  HttpOptions opts;
  httplib::Server svr;
  Metrics metrics;
  int bound_port = 0;

  mutable std::mutex mu;
  std::shared_ptr<Backend> backend;  // null while loading
  std::atomic<bool> draining{false};

  // Generation responses being produced (a streaming one until its last byte).
  std::mutex inflight_mu;
  std::condition_variable inflight_cv;
  int inflight = 0;

  std::shared_ptr<Backend> get_backend() const {
    std::lock_guard<std::mutex> lock(mu);
    return backend;
  }
};

// Counts one in-flight generation response while alive.
class InflightGuard {
 public:
  explicit InflightGuard(HttpServer::Impl* s) : s_(s) {
    std::lock_guard<std::mutex> lock(s_->inflight_mu);
    ++s_->inflight;
  }
  ~InflightGuard() {
    {
      std::lock_guard<std::mutex> lock(s_->inflight_mu);
      --s_->inflight;
    }
    s_->inflight_cv.notify_all();
  }
  InflightGuard(const InflightGuard&) = delete;
  InflightGuard& operator=(const InflightGuard&) = delete;

 private:
  HttpServer::Impl* s_;
};

void send_error(httplib::Response& res, const ApiError& e);
void send_json(httplib::Response& res, const std::string& body, int status = 200);
// The backend if generation requests can be served now, else an error was sent (503).
std::shared_ptr<Backend> serving_backend(HttpServer::Impl& s, httplib::Response& res);

void handle_chat(HttpServer::Impl& s, const httplib::Request& req, httplib::Response& res);
void handle_completion(HttpServer::Impl& s, const httplib::Request& req, httplib::Response& res);

}  // namespace qs::server
