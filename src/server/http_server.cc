#include "server/http_server.h"

#include <algorithm>

#include "core/log.h"
#include "server/http_context.h"
#include "server/openai_responses.h"
#include "server/request_builder.h"
#include "server/tokenize_protocol.h"
#include "webui_asset.h"

namespace qs::server {

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(error_body(e), "application/json");
}

void send_json(httplib::Response& res, const std::string& body, int status) {
  res.status = status;
  res.set_content(body, "application/json");
}

std::shared_ptr<Backend> serving_backend(HttpServer::Impl& s, httplib::Response& res) {
  if (s.draining.load()) {
    send_error(res, ApiError::Overloaded("The server is shutting down."));
    return nullptr;
  }
  std::shared_ptr<Backend> b = s.get_backend();
  if (!b) send_error(res, ApiError::Overloaded("The model is still loading; retry shortly."));
  return b;
}

namespace {

// A bounded set of label values for /metrics.
std::string endpoint_label(const std::string& path) {
  static const char* kKnown[] = {"/",
                                 "/health",
                                 "/metrics",
                                 "/tokenize",
                                 "/detokenize",
                                 "/v1/models",
                                 "/v1/chat/completions",
                                 "/v1/completions"};
  for (const char* k : kKnown)
    if (path == k) return k;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

bool needs_key(const std::string& path) {
  return path.rfind("/v1/", 0) == 0 || path == "/tokenize" || path == "/detokenize";
}

// Constant-time comparison: the key check should not leak how much matched.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i % std::max<size_t>(1, b.size())];
  return diff == 0;
}

void handle_tokenize(HttpServer::Impl& s, const httplib::Request& req, httplib::Response& res) {
  std::shared_ptr<Backend> b = serving_backend(s, res);
  if (!b) return;
  ApiResult<TokenizeRequest> r = parse_tokenize_request(req.body, s.opts.limits);
  if (!r.ok()) return send_error(res, r.error());
  if (!r->model.empty()) {
    ApiResult<std::string> m = resolve_model(r->model, b->names);
    if (!m.ok()) return send_error(res, m.error());
  }
  std::vector<int32_t> ids;
  if (r->prompt) {
    ids = b->tokenizer->encode(*r->prompt, /*allow_special=*/true);
  } else {
    ApiResult<std::vector<int32_t>> e = encode_chat_prompt(
        r->messages, &r->tools, r->add_generation_prompt, r->continue_final_message, *b->tokenizer);
    if (!e.ok()) return send_error(res, e.error());
    ids = std::move(e).value();
  }
  std::vector<int64_t> ids64(ids.begin(), ids.end());
  std::vector<std::string> strs;
  if (r->return_token_strs)
    for (int32_t id : ids) strs.push_back(b->tokenizer->token_piece(id));
  send_json(res, to_body(tokenize_response_json(ids64, b->max_model_len,
                                                r->return_token_strs ? &strs : nullptr)));
}

void handle_detokenize(HttpServer::Impl& s, const httplib::Request& req, httplib::Response& res) {
  std::shared_ptr<Backend> b = serving_backend(s, res);
  if (!b) return;
  ApiResult<DetokenizeRequest> r = parse_detokenize_request(req.body, s.opts.limits);
  if (!r.ok()) return send_error(res, r.error());
  if (!r->model.empty()) {
    ApiResult<std::string> m = resolve_model(r->model, b->names);
    if (!m.ok()) return send_error(res, m.error());
  }
  std::vector<int32_t> ids;
  for (int64_t id : r->tokens) {
    if (id < 0 || id >= b->tokenizer->vocab_size())
      return send_error(
          res, ApiError::InvalidRequest(
                   "token " + std::to_string(id) + " is outside the vocabulary", "tokens"));
    ids.push_back(static_cast<int32_t>(id));
  }
  send_json(res, to_body(detokenize_response_json(b->tokenizer->decode(ids))));
}

std::vector<ModelCard> model_cards(const Backend& b) {
  std::vector<ModelCard> cards;
  for (const std::string& name : b.names)
    cards.push_back({name, b.created, "qwenserve", b.max_model_len});
  return cards;
}

}  // namespace

HttpServer::HttpServer(HttpOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.opts = std::move(options);
  const int threads = std::max(4, s.opts.http_threads);
  s.svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Bodies a little over the limit are read and answered with an OpenAI 413;
  // far larger ones are cut off by httplib itself (also 413).
  s.svr.set_payload_max_length(std::max<size_t>(s.opts.limits.max_body_bytes * 4, 1 << 20));
  s.svr.set_tcp_nodelay(true);
  s.svr.set_keep_alive_timeout(5);
  s.svr.set_read_timeout(30);
  s.svr.set_write_timeout(30);

  s.svr.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin");
    if (!origin.empty() && !s.opts.cors_origins.empty()) {
      const auto& allowed = s.opts.cors_origins;
      bool any = std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
      if (any || std::find(allowed.begin(), allowed.end(), origin) != allowed.end()) {
        res.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
        res.set_header("Vary", "Origin");
        if (req.method == "OPTIONS") {
          res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
          res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
          res.set_header("Access-Control-Max-Age", "600");
          res.status = 204;
          return httplib::Server::HandlerResponse::Handled;
        }
      }
    }
    if (!s.opts.api_key.empty() && needs_key(req.path) && req.method != "OPTIONS") {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      if (auth.rfind(prefix, 0) != 0 || !same_secret(auth.substr(prefix.size()), s.opts.api_key)) {
        send_error(res, ApiError::Unauthorized(
                            auth.empty() ? "Missing API key: send 'Authorization: Bearer <key>'."
                                         : "Incorrect API key provided."));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (req.body.size() > s.opts.limits.max_body_bytes) {
      send_error(res, ApiError::TooLarge("The request body has " + std::to_string(req.body.size()) +
                                         " bytes; the limit is " +
                                         std::to_string(s.opts.limits.max_body_bytes) + "."));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return;
    ApiError e;
    switch (res.status) {
      case 404:
        e = ApiError::NotFound("Unknown route: " + req.method + " " + req.path);
        break;
      case 413:
        e = ApiError::TooLarge("The request body is too large.");
        break;
      default:
        e.http_status = res.status;
        e.message = "HTTP " + std::to_string(res.status);
        e.type = res.status >= 500 ? "server_error" : "invalid_request_error";
    }
    e.http_status = res.status;
    send_error(res, e);
  });

  s.svr.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        QS_LOG(Error, "handler for " << req.path << " threw: " << what);
        send_error(res, ApiError::Internal("internal error: " + what));
      });

  s.svr.set_logger([&s](const httplib::Request& req, const httplib::Response& res) {
    s.metrics.count_request(endpoint_label(req.path), res.status);
  });

  s.svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(webui::kIndexHtml, webui::kIndexHtmlSize, "text/html; charset=utf-8");
  });
  s.svr.Get("/health", [&s](const httplib::Request&, httplib::Response& res) {
    if (s.draining.load()) return send_json(res, R"({"status":"draining"})", 503);
    if (!s.get_backend()) return send_json(res, R"({"status":"loading"})", 503);
    send_json(res, R"({"status":"ok"})");
  });
  s.svr.Get("/metrics", [&s](const httplib::Request&, httplib::Response& res) {
    std::shared_ptr<Backend> b = s.get_backend();
    engine::EngineSnapshot snap;
    if (b) snap = b->client->snapshot();
    res.set_content(s.metrics.render(b ? &snap : nullptr), "text/plain; version=0.0.4");
  });
  s.svr.Get("/v1/models", [&s](const httplib::Request&, httplib::Response& res) {
    std::shared_ptr<Backend> b = serving_backend(s, res);
    if (b) send_json(res, to_body(models_list_json(model_cards(*b))));
  });
  s.svr.Get(R"(/v1/models/(.+))", [&s](const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<Backend> b = serving_backend(s, res);
    if (!b) return;
    ApiResult<std::string> m = resolve_model(req.matches[1], b->names);
    if (!m.ok()) return send_error(res, m.error());
    for (const ModelCard& c : model_cards(*b))
      if (c.id == *m) return send_json(res, to_body(model_json(c)));
  });
  s.svr.Post("/tokenize", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_tokenize(s, req, res);
  });
  s.svr.Post("/detokenize", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_detokenize(s, req, res);
  });
  s.svr.Post("/v1/chat/completions", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_chat(s, req, res);
  });
  s.svr.Post("/v1/completions", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_completion(s, req, res);
  });
  // Browsers send a preflight before a cross-origin POST; answered above when
  // the origin is allowed, and here (without CORS headers) when it is not.
  s.svr.Options(R"(.*)", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::bind() {
  Impl& s = *impl_;
  if (s.opts.port == 0) {
    s.bound_port = s.svr.bind_to_any_port(s.opts.host);
    if (s.bound_port <= 0) return Status::Error("cannot bind " + s.opts.host + " (any port)");
  } else {
    if (!s.svr.bind_to_port(s.opts.host, s.opts.port))
      return Status::Error("cannot listen on " + s.opts.host + ":" + std::to_string(s.opts.port) +
                           " (is the port in use? choose another with --port)");
    s.bound_port = s.opts.port;
  }
  return Status::Ok();
}

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::serve() { impl_->svr.listen_after_bind(); }

void HttpServer::set_backend(std::shared_ptr<Backend> backend) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->backend = std::move(backend);
}

std::shared_ptr<Backend> HttpServer::backend() const { return impl_->get_backend(); }

void HttpServer::set_draining() { impl_->draining = true; }

bool HttpServer::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->inflight_mu);
  return impl_->inflight_cv.wait_for(lock, timeout, [&] { return impl_->inflight == 0; });
}

void HttpServer::stop() {
  if (impl_->svr.is_running()) impl_->svr.stop();
}

Metrics& HttpServer::metrics() { return impl_->metrics; }
const HttpOptions& HttpServer::options() const { return impl_->opts; }

}  // namespace qs::server
