#include "cli/serve_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace qs::cli {

void add_serve_options(CLI::App* sub, ServeFlags* f) {
  sub->add_option("-m,--model", f->model,
                  "Hugging Face model directory or .gguf file (YAML: model)");
  sub->add_option("--config", f->config_path, "YAML file with any of these options")
      ->check(CLI::ExistingFile);
  sub->add_option("--host", f->host, "Address to listen on (default 127.0.0.1)");
  sub->add_option("--port", f->port, "Port (default 8000)")->check(CLI::Range(0, 65535));
  sub->add_option("--api-key", f->api_key, "Require 'Authorization: Bearer <key>' on /v1/*");
  sub->add_option("--cors-origins", f->cors_origins,
                  "Origins allowed to call the API from a browser ('*' = any; default none)");
  sub->add_option("--served-model-name", f->served_model_name, "Extra model names to accept");
  sub->add_option("-t,--threads", f->threads, "Model threads (default: all cores)");
  sub->add_option("--http-threads", f->http_threads, "Connections served at once (default 128)");
  sub->add_option("--precision", f->precision, "Matmul activations: bf16 (fast) or exact (f32)")
      ->check(CLI::IsMember({"bf16", "exact"}));
  sub->add_option("--kv-cache-dtype", f->kv_cache_dtype,
                  "KV cache element type: bf16, f32 or int8 (per-vector scales)")
      ->check(CLI::IsMember({"bf16", "f32", "int8"}));
  sub->add_option("--max-batch-size", f->max_batch_size, "Sequences running at once (default 16)");
  sub->add_option("--max-seq-len", f->max_seq_len, "Prompt + output tokens (default 8192)");
  sub->add_option("--enable-chunked-prefill", f->enable_chunked_prefill,
                  "true/false (default true)");
  sub->add_option("--max-num-batched-tokens", f->max_num_batched_tokens,
                  "Token budget of one step (default 2048)");
  sub->add_option("--max-waiting", f->max_waiting,
                  "Waiting-queue length beyond which requests get 429 (default 1024)");
  sub->add_option("--enable-prefix-caching", f->enable_prefix_caching, "true/false (default true)");
  sub->add_option("--num-kv-blocks", f->num_kv_blocks, "KV cache blocks of 16 tokens (0 = auto)");
  sub->add_option("--kv-cache-gib", f->kv_cache_gib, "Cap of the automatic KV cache size (4)");
  sub->add_option("--max-body-bytes", f->max_body_bytes, "Request body limit (default 8 MiB)");
  sub->add_option("--drain-timeout", f->drain_timeout_s,
                  "Seconds running requests get to finish on SIGTERM (default 60)");
  sub->add_option("--huge-page-weights", f->huge_page_weights,
                  "true/false: copy the weights into 2 MB pages in the background after load "
                  "(default true; faster decode, same memory)");
}

namespace {

using Setter = std::function<void(const YAML::Node&, ServeConfig*)>;

std::vector<std::string> string_list(const YAML::Node& n) {
  if (n.IsScalar()) {
    // "a, b" or "a": a comma-separated string is accepted too.
    std::vector<std::string> out;
    std::stringstream ss(n.as<std::string>());
    std::string item;
    while (std::getline(ss, item, ',')) {
      size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
      if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    }
    return out;
  }
  if (n.IsNull()) return {};
  return n.as<std::vector<std::string>>();
}

const std::map<std::string, Setter>& setters() {
#define QS_KEY(name, type)                                                     \
  {                                                                            \
#name, [](const YAML::Node& n, ServeConfig* c) { c->name = n.as<type>(); } \
  }
  static const std::map<std::string, Setter> m = {
      QS_KEY(model, std::string),
      QS_KEY(host, std::string),
      QS_KEY(port, int),
      QS_KEY(api_key, std::string),
      {"cors_origins",
       [](const YAML::Node& n, ServeConfig* c) { c->cors_origins = string_list(n); }},
      {"served_model_name",
       [](const YAML::Node& n, ServeConfig* c) { c->served_model_name = string_list(n); }},
      QS_KEY(threads, int),
      QS_KEY(http_threads, int),
      QS_KEY(precision, std::string),
      QS_KEY(kv_cache_dtype, std::string),
      QS_KEY(max_batch_size, int),
      QS_KEY(max_seq_len, int),
      QS_KEY(enable_chunked_prefill, bool),
      QS_KEY(max_num_batched_tokens, int),
      QS_KEY(max_waiting, int),
      QS_KEY(enable_prefix_caching, bool),
      QS_KEY(num_kv_blocks, int),
      QS_KEY(kv_cache_gib, double),
      QS_KEY(max_body_bytes, int64_t),
      QS_KEY(drain_timeout_s, int),
      QS_KEY(huge_page_weights, bool),
  };
#undef QS_KEY
  return m;
}

Status validate(const ServeConfig& c) {
  auto bad = [](const std::string& what) { return Status::Error("serve: " + what); };
  if (c.model.empty()) return bad("no model: give -m/--model or 'model:' in the config file");
  if (c.port < 0 || c.port > 65535) return bad("port must be in [0, 65535]");
  if (c.max_batch_size < 1) return bad("max_batch_size must be >= 1");
  if (c.max_seq_len < 2) return bad("max_seq_len must be >= 2");
  if (c.max_num_batched_tokens < 1) return bad("max_num_batched_tokens must be >= 1");
  if (c.max_waiting < 0) return bad("max_waiting must be >= 0");
  if (c.http_threads < 1) return bad("http_threads must be >= 1");
  if (c.threads < 0) return bad("threads must be >= 0");
  if (c.num_kv_blocks < 0) return bad("num_kv_blocks must be >= 0");
  if (!(c.kv_cache_gib > 0)) return bad("kv_cache_gib must be > 0");
  if (c.max_body_bytes < 1024) return bad("max_body_bytes must be >= 1024");
  if (c.precision != "bf16" && c.precision != "exact")
    return bad("precision must be bf16 or exact");
  if (c.kv_cache_dtype != "bf16" && c.kv_cache_dtype != "f32" && c.kv_cache_dtype != "int8")
    return bad("kv_cache_dtype must be bf16, f32 or int8");
  return Status::Ok();
}

}  // namespace

Status apply_yaml(const std::string& yaml_text, const std::string& source, ServeConfig* cfg) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::Error(source + ": not valid YAML: " + e.what());
  }
  if (root.IsNull()) return Status::Ok();  // an empty file
  if (!root.IsMap()) return Status::Error(source + ": expected a mapping of option: value");
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    auto it = setters().find(key);
    if (it == setters().end()) {
      std::string known;
      for (const auto& [k, _] : setters()) known += (known.empty() ? "" : ", ") + k;
      return Status::Error(source + ": unknown key '" + key + "' (known keys: " + known + ")");
    }
    try {
      it->second(kv.second, cfg);
    } catch (const YAML::Exception& e) {
      return Status::Error(source + ": key '" + key + "' has the wrong type (line " +
                           std::to_string(kv.second.Mark().line + 1) + ")");
    }
  }
  return Status::Ok();
}

Result<ServeConfig> resolve_serve_config(const ServeFlags& f) {
  ServeConfig c;
  if (!f.config_path.empty()) {
    std::ifstream in(f.config_path);
    if (!in) return Status::Error("cannot read " + f.config_path);
    std::stringstream ss;
    ss << in.rdbuf();
    QS_RETURN_IF_ERROR(apply_yaml(ss.str(), f.config_path, &c));
  }
  if (f.model) c.model = *f.model;
  if (f.host) c.host = *f.host;
  if (f.api_key) c.api_key = *f.api_key;
  if (f.precision) c.precision = *f.precision;
  if (f.kv_cache_dtype) c.kv_cache_dtype = *f.kv_cache_dtype;
  if (f.port) c.port = *f.port;
  if (f.threads) c.threads = *f.threads;
  if (f.http_threads) c.http_threads = *f.http_threads;
  if (f.max_batch_size) c.max_batch_size = *f.max_batch_size;
  if (f.max_seq_len) c.max_seq_len = *f.max_seq_len;
  if (f.max_num_batched_tokens) c.max_num_batched_tokens = *f.max_num_batched_tokens;
  if (f.max_waiting) c.max_waiting = *f.max_waiting;
  if (f.num_kv_blocks) c.num_kv_blocks = *f.num_kv_blocks;
  if (f.drain_timeout_s) c.drain_timeout_s = *f.drain_timeout_s;
  if (f.enable_chunked_prefill) c.enable_chunked_prefill = *f.enable_chunked_prefill;
  if (f.enable_prefix_caching) c.enable_prefix_caching = *f.enable_prefix_caching;
  if (f.huge_page_weights) c.huge_page_weights = *f.huge_page_weights;
  if (f.kv_cache_gib) c.kv_cache_gib = *f.kv_cache_gib;
  if (f.max_body_bytes) c.max_body_bytes = *f.max_body_bytes;
  if (!f.cors_origins.empty()) c.cors_origins = f.cors_origins;
  if (!f.served_model_name.empty()) c.served_model_name = f.served_model_name;
  QS_RETURN_IF_ERROR(validate(c));
  return c;
}

}  // namespace qs::cli
