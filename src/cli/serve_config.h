// Options of `qwenserve serve`: defaults, then a --config YAML file, then
// command-line flags (flags win). Every option has a YAML key of the same
// name with '_' for '-' (e.g. --max-batch-size <-> max_batch_size).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace qs::cli {

struct ServeConfig {
  std::string model;  // model directory
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string api_key;
  std::vector<std::string> cors_origins;       // empty: no CORS headers
  std::vector<std::string> served_model_name;  // extra names the API accepts
  int threads = 0;                             // model threads; 0 = all cores
  int http_threads = 128;                      // connections served at once
  std::string precision = "bf16";              // bf16 | exact
  std::string kv_cache_dtype = "bf16";         // bf16 | f32 | int8
  int max_batch_size = 16;
  int max_seq_len = 8192;
  bool enable_chunked_prefill = true;
  int max_num_batched_tokens = 2048;
  int max_waiting = 1024;  // queued requests beyond this get 429
  bool enable_prefix_caching = true;
  int num_kv_blocks = 0;      // 0: sized from max_batch_size x max_seq_len, capped by kv_cache_gib
  double kv_cache_gib = 4.0;  // cap of the automatic KV cache size
  int64_t max_body_bytes = 8 << 20;
  int drain_timeout_s = 60;       // on SIGTERM: how long running requests may take to finish
  bool huge_page_weights = true;  // copy the weights into 2 MB pages after load (weight_arena.h)
};

// The flags, each optional so that only the ones given override the file.
struct ServeFlags {
  std::string config_path;
  std::optional<std::string> model, host, api_key, precision, kv_cache_dtype;
  std::optional<int> port, threads, http_threads, max_batch_size, max_seq_len,
      max_num_batched_tokens, max_waiting, num_kv_blocks, drain_timeout_s;
  std::optional<bool> enable_chunked_prefill, enable_prefix_caching, huge_page_weights;
  std::optional<double> kv_cache_gib;
  std::optional<int64_t> max_body_bytes;
  std::vector<std::string> cors_origins, served_model_name;
};

void add_serve_options(CLI::App* sub, ServeFlags* f);
// Applies the YAML text's keys to *cfg; unknown keys and wrong types are errors
// that name the key.
Status apply_yaml(const std::string& yaml_text, const std::string& source, ServeConfig* cfg);
// Defaults <- file (if flags.config_path) <- flags; then validates.
Result<ServeConfig> resolve_serve_config(const ServeFlags& flags);

}  // namespace qs::cli
