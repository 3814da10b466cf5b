// The HTTP server: OpenAI-compatible endpoints, /health, /metrics, /tokenize,
// /detokenize and the chat page at /. It listens before the model is loaded
// (/health answers 503 "loading" until set_backend()), and drains on
// shutdown: set_draining(), let the engine finish, wait_idle(), stop().
//
//   HttpServer srv(opts);
//   QS_RETURN_IF_ERROR(srv.bind());
//   std::thread t([&] { srv.serve(); });
//   srv.set_backend(backend);  // now serving
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "server/backend.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"

namespace qs::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;      // 0: any free port (see HttpServer::port())
  std::string api_key;  // non-empty: /v1/*, /tokenize, /detokenize need "Bearer <key>"
  std::vector<std::string> cors_origins;  // allowed Origin values; "*" allows any; empty: no CORS
  int http_threads = 128;                 // connections handled at once (each stream holds one)
  ServerLimits limits;
};

class HttpServer {
 public:
  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port; an error says which address could not be bound.
  Status bind();
  int port() const;
  // Accepts and serves connections until stop(). Call after bind().
  void serve();
  // The model is loaded: generation endpoints and /health go live.
  void set_backend(std::shared_ptr<Backend> backend);
  std::shared_ptr<Backend> backend() const;
  // Shutting down: /health says 503 "draining", new generation requests get 503.
  void set_draining();
  // Waits until no generation response is in flight (or the timeout passes); true if idle.
  bool wait_idle(std::chrono::milliseconds timeout);
  void stop();

  Metrics& metrics();
  const HttpOptions& options() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace qs::server
