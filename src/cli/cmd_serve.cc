// qwenserve serve: the OpenAI-compatible HTTP server with the chat page.
// Order of start-up: bind the port (fail fast if taken), serve /health with
// 503 "loading" while the model, tokenizer and engine load, then go live and
// log one "qwenserve ready: <url>" line. SIGINT/SIGTERM: stop admitting, let
// running requests finish (drain), close; a second signal exits at once.
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "cli/command_registry.h"
#include "cli/generation.h"
#include "cli/serve_config.h"
#include "core/log.h"
#include "engine/engine_client.h"
#include "grammar/structured_output.h"
#include "server/http_server.h"
#include "server/openai_responses.h"

namespace qs::cli {
namespace {

std::atomic<int> g_signals{0};

void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(130);  // second Ctrl-C: no more waiting
}

std::vector<std::string> model_names(const ServeConfig& c) {
  std::vector<std::string> names = c.served_model_name;
  std::filesystem::path p(c.model);
  std::string base = (p.has_filename() ? p.filename() : p.parent_path().filename()).string();
  for (const std::string& n : {base, std::string("qwen2.5-0.5b-instruct")})
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  return names;
}

std::shared_ptr<server::Backend> load_backend(const ServeConfig& cfg, Qwen2Model& model) {
  engine::EngineConfig ec;
  ec.scheduler.max_batch_size = cfg.max_batch_size;
  ec.scheduler.max_seq_len = cfg.max_seq_len;
  if (cfg.max_seq_len > model.config().max_position_embeddings) {
    QS_LOG(Warn, "max_seq_len " << cfg.max_seq_len << " is over the model's "
                                << model.config().max_position_embeddings << "; using that");
    ec.scheduler.max_seq_len = static_cast<int32_t>(model.config().max_position_embeddings);
  }
  ec.scheduler.enable_chunked_prefill = cfg.enable_chunked_prefill;
  ec.scheduler.max_num_batched_tokens = cfg.max_num_batched_tokens;
  ec.scheduler.max_waiting = cfg.max_waiting;
  ec.scheduler.enable_prefix_caching = cfg.enable_prefix_caching;
  ec.scheduler.num_blocks = cfg.num_kv_blocks;
  ec.kv_dtype = kv_dtype_of(cfg.kv_cache_dtype);
  ec.kv_cache_max_bytes = static_cast<size_t>(cfg.kv_cache_gib * double(size_t{1} << 30));
  auto eng = engine::Engine::Create(model, ec);
  if (!eng.ok()) throw CommandError{"serve: " + eng.status().message(), 1};

  auto b = std::make_shared<server::Backend>();
  b->tokenizer = load_tokenizer_or_throw(cfg.model);
  b->defaults = load_generation_defaults(cfg.model);
  auto add_eos = [&](int64_t id) {
    if (id >= 0 && std::find(b->eos_ids.begin(), b->eos_ids.end(), id) == b->eos_ids.end())
      b->eos_ids.push_back(static_cast<int32_t>(id));
  };
  for (int32_t id : b->tokenizer->stop_ids()) add_eos(id);
  for (int64_t id : model.config().eos_token_ids) add_eos(id);
  for (int64_t id : b->defaults.eos_token_ids) add_eos(id);
  b->names = model_names(cfg);
  b->max_model_len = ec.scheduler.max_seq_len;
  b->vocab_size = model.config().vocab_size;
  b->created = server::unix_now();
  // Structured output: the tokenizer's vocabulary padded to the logits' width.
  auto vocab = grammar::Vocabulary::FromTokenizer(*b->tokenizer,
                                                  static_cast<int32_t>(model.config().vocab_size));
  if (vocab.ok())
    b->grammars = std::make_shared<grammar::GrammarCache>(std::move(vocab).value());
  else
    QS_LOG(Warn, "structured output disabled: " << vocab.status().message());
  b->client = std::make_unique<engine::EngineClient>(std::move(eng).value());
  return b;
}

void serve(const ServeFlags& flags) {
  auto resolved = resolve_serve_config(flags);
  if (!resolved.ok()) throw CommandError{resolved.status().message(), 2};
  const ServeConfig cfg = std::move(resolved).value();

  std::signal(SIGPIPE, SIG_IGN);  // a client hanging up must not kill the server
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  server::HttpOptions ho;
  ho.host = cfg.host;
  ho.port = cfg.port;
  ho.api_key = cfg.api_key;
  ho.cors_origins = cfg.cors_origins;
  ho.http_threads = cfg.http_threads;
  ho.limits.max_body_bytes = static_cast<size_t>(cfg.max_body_bytes);
  server::HttpServer srv(ho);
  Status st = srv.bind();
  if (!st.ok()) throw CommandError{"serve: " + st.message(), 1};
  const std::string base = "http://" + cfg.host + ":" + std::to_string(srv.port());
  std::thread http([&] { srv.serve(); });
  auto shutdown_http = [&] {
    srv.stop();
    http.join();
  };
  QS_LOG(Info,
         "listening on " << base << "; loading " << cfg.model << " (/health: 503 until ready)");

  ModelArgs margs;
  margs.dir = cfg.model;
  margs.threads = cfg.threads;
  margs.precision = cfg.precision;
  margs.kv_dtype = cfg.kv_cache_dtype;
  margs.huge_pages = cfg.huge_page_weights;
  std::unique_ptr<Qwen2Model> model;
  std::shared_ptr<server::Backend> backend;
  try {
    model = load_model_or_throw(margs);
    backend = load_backend(cfg, *model);
  } catch (...) {
    shutdown_http();
    throw;
  }
  srv.set_backend(backend);
  std::fprintf(stderr, "qwenserve ready: %s/v1/chat/completions (chat page: %s/)\n", base.c_str(),
               base.c_str());
  std::fflush(stderr);

  while (g_signals.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));

  engine::EngineSnapshot snap = backend->client->snapshot();
  QS_LOG(Info, "shutting down: draining " << snap.stats.num_running << " running and "
                                          << snap.stats.num_waiting << " waiting requests");
  srv.set_draining();
  auto drained = std::async(std::launch::async, [&] { backend->client->drain(); });
  if (drained.wait_for(std::chrono::seconds(cfg.drain_timeout_s)) != std::future_status::ready) {
    // drain() is still waiting inside the engine client: nothing can be torn down safely.
    QS_LOG(Warn, "drain timed out after " << cfg.drain_timeout_s << " s; exiting");
    std::fflush(stderr);
    _exit(1);
  }
  // Let the handlers write the last events of finished streams.
  srv.wait_idle(std::chrono::seconds(10));
  shutdown_http();
  backend->client.reset();  // joins the engine loop (idle after the drain)
  backend.reset();
  model.reset();
  QS_LOG(Info, "stopped");
}

CommandRegistrar reg("serve", "Serve the OpenAI-compatible HTTP API and the chat page",
                     [](CLI::App* sub) {
                       auto f = std::make_shared<ServeFlags>();
                       add_serve_options(sub, f.get());
                       sub->callback([f] { serve(*f); });
                     });

}  // namespace
}  // namespace qs::cli
