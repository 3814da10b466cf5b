// Options shared by every subcommand that loads a model (run, bench, serve, eval),
// and a single-sequence generator for the terminal commands.
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/qwen2_model.h"

namespace qs::cli {

struct ModelArgs {
  std::string dir;
  int threads = 0;
  std::string precision = "bf16";  // matmul activations: bf16 | exact
  std::string kv_dtype = "bf16";   // bf16 | f32 | int8
  std::string quantize;            // "" | int8 | int5 | int4 | int4-g128: quantize weights at load
  bool huge_pages = true;          // ModelOptions::huge_page_weights (--no-huge-pages: false)
};

void add_model_options(CLI::App* sub, ModelArgs* a);
ModelOptions to_model_options(const ModelArgs& a);
DType kv_dtype_of(const ModelArgs& a);
// "f32" -> F32, "int8" -> I8, anything else -> BF16 (names are checked by the parsers).
DType kv_dtype_of(const std::string& name);
// Loads the model or throws CommandError with the loader's message.
std::unique_ptr<Qwen2Model> load_model_or_throw(const ModelArgs& a);

// Runs one sequence: prefill in one forward, then one token per step.
class SingleSequence {
 public:
  SingleSequence(Qwen2Model& model, const ModelArgs& args, size_t max_len);
  // Appends `ids` (prefill or one decode token); returns logits of the last row [vocab].
  const std::vector<float>& feed(const std::vector<int32_t>& ids);
  size_t length() const { return len_; }
  void reset() { len_ = 0; }
  // Forgets positions >= n (their KV slots are overwritten by later feeds).
  void truncate(size_t n) { len_ = std::min(len_, n); }

 private:
  Qwen2Model& model_;
  KVCache kv_;
  std::vector<int32_t> table_;
  std::vector<float> logits_;
  size_t len_ = 0;
  Batch batch_;
};

// Argmax with the lowest index on ties.
int32_t argmax(const std::vector<float>& logits);

}  // namespace qs::cli
