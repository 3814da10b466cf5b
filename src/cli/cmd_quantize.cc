// `qwenserve quantize -m DIR --to int8|int4 -o OUT.gguf`: a BF16/F16/F32
// Hugging Face Qwen2 directory -> a GGUF file that run/serve/bench load with
// -m OUT.gguf (format: docs/QUANTIZATION.md). int8 writes every weight matrix
// as Q8_0, int4 as Q4_1 (groups of 32, scale and min: the kernels' kQ4 g32
// exactly); norms and biases stay F32. The tokenizer (vocab.json, merges.txt,
// added tokens) and chat template are written as tokenizer.ggml.* metadata
// when the directory has them.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_registry.h"
#include "core/dtype.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/gguf_qwen2.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/quant.h"

namespace qs::cli {
namespace {

namespace qt = kernels::quant;

struct Options {
  std::string dir, to = "int8", out;
};

float elem(const TensorView& t, size_t e) {
  uint16_t h;
  switch (t.dtype) {
    case DType::BF16:
      std::memcpy(&h, t.data + e * 2, 2);
      return bf16_to_f32(h);
    case DType::F16:
      std::memcpy(&h, t.data + e * 2, 2);
      return f16_to_f32(h);
    default: {
      float f;
      std::memcpy(&f, t.data + e * 4, 4);
      return f;
    }
  }
}

// Tokenizer metadata from vocab.json / merges.txt / tokenizer_config.json, if present.
void add_tokenizer(const std::string& dir, const Qwen2Config& c, GgufWriter* w) {
  auto vocab_text = read_text_file(dir + "/vocab.json");
  auto merges_text = read_text_file(dir + "/merges.txt");
  if (!vocab_text.ok() || !merges_text.ok()) {
    std::fprintf(stderr, "quantize: no vocab.json/merges.txt: the GGUF has no tokenizer\n");
    return;
  }
  std::vector<std::string> tokens(static_cast<size_t>(c.vocab_size));
  std::vector<int32_t> types(tokens.size(), 1);  // 1 normal, 3 control, 4 user-defined
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = "[PAD" + std::to_string(i) + "]";
    types[i] = 4;
  }
  auto vocab = nlohmann::json::parse(vocab_text.value(), nullptr, false);
  if (vocab.is_object())
    for (auto& [tok, id] : vocab.items())
      if (id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < c.vocab_size) {
        tokens[id.get<size_t>()] = tok;
        types[id.get<size_t>()] = 1;
      }
  std::string template_text;
  if (auto cfg_text = read_text_file(dir + "/tokenizer_config.json"); cfg_text.ok()) {
    auto cfg = nlohmann::json::parse(cfg_text.value(), nullptr, false);
    if (cfg.is_object() && cfg.contains("added_tokens_decoder"))
      for (auto& [id, t] : cfg["added_tokens_decoder"].items()) {
        const long v = std::strtol(id.c_str(), nullptr, 10);
        if (v >= 0 && v < c.vocab_size && t.contains("content") && t["content"].is_string()) {
          tokens[static_cast<size_t>(v)] = t["content"].get<std::string>();
          types[static_cast<size_t>(v)] = t.value("special", false) ? 3 : 4;
        }
      }
    if (cfg.is_object() && cfg.contains("chat_template") && cfg["chat_template"].is_string())
      template_text = cfg["chat_template"].get<std::string>();
  }
  std::vector<std::string> merges;
  std::string line;
  std::istringstream in(merges_text.value());
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    merges.push_back(line);
  }
  w->add_string("tokenizer.ggml.model", "gpt2");
  w->add_string("tokenizer.ggml.pre", "qwen2");
  w->add_strings("tokenizer.ggml.tokens", tokens);
  w->add_i32s("tokenizer.ggml.token_type", types);
  w->add_strings("tokenizer.ggml.merges", merges);
  if (!c.eos_token_ids.empty())
    w->add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_token_ids[0]));
  if (c.bos_token_id)
    w->add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*c.bos_token_id));
  if (!template_text.empty()) w->add_string("tokenizer.chat_template", template_text);
}

void run_quantize(const Options& o) {
  auto cfg = load_qwen2_config(o.dir + "/config.json");
  if (!cfg.ok()) throw CommandError{cfg.status().message(), 1};
  const Qwen2Config& c = cfg.value();
  auto store = TensorStore::OpenDir(o.dir);
  if (!store.ok()) throw CommandError{store.status().message(), 1};
  GgufWriter w;
  w.add_string("general.architecture", "qwen2");
  w.add_string("general.name", "qwenserve quantize " + o.to);
  w.add_u32("general.alignment", 32);
  w.add_u32("qwen2.block_count", static_cast<uint32_t>(c.num_hidden_layers));
  w.add_u32("qwen2.context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.add_u32("qwen2.embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.add_u32("qwen2.feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.add_u32("qwen2.attention.head_count", static_cast<uint32_t>(c.num_attention_heads));
  w.add_u32("qwen2.attention.head_count_kv", static_cast<uint32_t>(c.num_key_value_heads));
  w.add_f32("qwen2.rope.freq_base", static_cast<float>(c.rope_theta));
  w.add_f32("qwen2.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.add_u32("general.file_type", o.to == "int8" ? 7 : 3);  // llama.cpp: MOSTLY_Q8_0 / MOSTLY_Q4_1
  add_tokenizer(o.dir, c, &w);
  size_t total = 0;
  for (const std::string& name : store.value()->names()) {
    const std::string gname = gguf_tensor_name(name);
    if (gname.empty()) {
      std::fprintf(stderr, "quantize: skipping unknown tensor %s\n", name.c_str());
      continue;
    }
    if (c.tie_word_embeddings && name == "lm_head.weight") continue;
    const TensorView& t = *store.value()->find(name);
    if (t.dtype != DType::BF16 && t.dtype != DType::F16 && t.dtype != DType::F32)
      throw CommandError{name + ": dtype is not BF16/F16/F32", 1};
    std::vector<uint64_t> ne(t.shape.rbegin(), t.shape.rend());
    std::vector<uint8_t> bytes;
    GgmlType type = GgmlType::kF32;
    if (t.shape.size() == 2 && t.shape[1] % 32 == 0) {
      const size_t n = static_cast<size_t>(t.shape[0]), k = static_cast<size_t>(t.shape[1]);
      std::vector<float> row(k);
      const size_t rb = o.to == "int8" ? k / 32 * 34 : k / 32 * 20;
      bytes.resize(n * rb);
      type = o.to == "int8" ? GgmlType::kQ8_0 : GgmlType::kQ4_1;
      for (size_t j = 0; j < n; ++j) {
        for (size_t i = 0; i < k; ++i) row[i] = elem(t, j * k + i);
        if (o.to == "int8") {
          qt::quantize_row_q8_0(row.data(), k, reinterpret_cast<qt::BlockQ8_0*>(&bytes[j * rb]));
        } else {
          qt::quantize_row_q4_1(row.data(), k, reinterpret_cast<qt::BlockQ4_1*>(&bytes[j * rb]));
        }
      }
    } else {
      const size_t n = static_cast<size_t>(t.numel());
      bytes.resize(n * 4);
      for (size_t e = 0; e < n; ++e) {
        const float f = elem(t, e);
        std::memcpy(&bytes[e * 4], &f, 4);
      }
    }
    total += bytes.size();
    Status s = w.add_tensor(gname, ne, type, std::move(bytes));
    if (!s.ok()) throw CommandError{s.message(), 1};
  }
  Status s = w.write(o.out);
  if (!s.ok()) throw CommandError{s.message(), 1};
  std::printf("wrote %s: %s, %.3f GB of tensors\n", o.out.c_str(), o.to.c_str(), total / 1e9);
}

CommandRegistrar reg(
    "quantize", "Quantize a Hugging Face model directory to a GGUF file", [](CLI::App* sub) {
      auto o = std::make_shared<Options>();
      sub->add_option("-m,--model", o->dir, "Hugging Face model directory")->required();
      sub->add_option("--to", o->to, "int8 (Q8_0) or int4 (Q4_1, groups of 32)")
          ->check(CLI::IsMember({"int8", "int4"}));
      sub->add_option("-o,--output", o->out, "Output .gguf file")->required();
      sub->callback([o] { run_quantize(*o); });
    });

}  // namespace
}  // namespace qs::cli
