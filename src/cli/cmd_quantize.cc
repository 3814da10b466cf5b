// `qwenserve quantize -m DIR --to int8|int5|int4 -o OUT.gguf`: a BF16/F16/F32
// Hugging Face Qwen2 directory -> a GGUF file that run/serve/bench load with
// -m OUT.gguf (format: docs/QUANTIZATION.md). int8 writes every weight matrix
// as Q8_0, int5 as Q5_1 and int4 as Q4_1 (groups of 32, scale and min: the
// kernels' kQ5 / kQ4 g32 exactly, the same values as --quantize int5 /
// int4); norms and biases stay F32. The tokenizer and chat template are
// written as llama.cpp's tokenizer.ggml.* metadata and generation_config.json
// as general.sampling.*, when the directory has them.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command_registry.h"
#include "cli/gguf_tokenizer.h"
#include "core/dtype.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/gguf_qwen2.h"
#include "formats/gguf_sampling.h"
#include "formats/gguf_tokenizer.h"
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

// The tokenizer (tokenizer.ggml.*, chat template) and sampling defaults
// (general.sampling.*), so that the GGUF alone is a complete model. A directory
// without tokenizer files gives a weights-only GGUF (bench, run --prompt-ids).
void add_tokenizer(const std::string& dir, const Qwen2Config& c, GgufWriter* w) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir + "/vocab.json", ec) && !fs::exists(dir + "/tokenizer.json", ec)) {
    std::fprintf(stderr, "quantize: no vocab.json or tokenizer.json: the GGUF has no tokenizer\n");
    return;
  }
  auto t = gguf_tokenizer_from_dir(dir, c);
  if (!t.ok()) throw CommandError{"quantize: " + t.status().message(), 1};
  write_gguf_tokenizer(t.value(), w);
  auto gen = load_generation_config(dir + "/generation_config.json");
  if (!gen.ok()) throw CommandError{"quantize: " + gen.status().message(), 1};
  write_gguf_sampling(gen.value(), w);
}

void run_quantize(const Options& o) {
  auto cfg = load_qwen2_config(o.dir + "/config.json");
  if (!cfg.ok()) throw CommandError{cfg.status().message(), 1};
  const Qwen2Config& c = cfg.value();
  auto store = TensorStore::OpenDir(o.dir);
  if (!store.ok()) throw CommandError{store.status().message(), 1};
  GgufWriter w;
  w.add_string("general.architecture", "qwen2");
  // llama.cpp names the model after its directory.
  std::string dir = o.dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string name = std::filesystem::path(dir).filename().string();
  w.add_string("general.name", name.empty() ? "qwen2" : name);
  w.add_u32("general.alignment", 32);
  w.add_u32("qwen2.block_count", static_cast<uint32_t>(c.num_hidden_layers));
  w.add_u32("qwen2.context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.add_u32("qwen2.embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.add_u32("qwen2.feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.add_u32("qwen2.attention.head_count", static_cast<uint32_t>(c.num_attention_heads));
  w.add_u32("qwen2.attention.head_count_kv", static_cast<uint32_t>(c.num_key_value_heads));
  w.add_f32("qwen2.rope.freq_base", static_cast<float>(c.rope_theta));
  w.add_f32("qwen2.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  // llama.cpp's ftype: MOSTLY_Q8_0 / MOSTLY_Q5_1 / MOSTLY_Q4_1
  w.add_u32("general.file_type", o.to == "int8" ? 7 : o.to == "int5" ? 9 : 3);
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
      type = o.to == "int8" ? GgmlType::kQ8_0 : o.to == "int5" ? GgmlType::kQ5_1 : GgmlType::kQ4_1;
      size_t be = 0, bb = 0;
      ggml_type_block(type, &be, &bb);
      const size_t rb = k / be * bb;
      bytes.resize(n * rb);
      for (size_t j = 0; j < n; ++j) {
        for (size_t i = 0; i < k; ++i) row[i] = elem(t, j * k + i);
        uint8_t* out = &bytes[j * rb];
        if (type == GgmlType::kQ8_0) {
          qt::quantize_row_q8_0(row.data(), k, reinterpret_cast<qt::BlockQ8_0*>(out));
        } else if (type == GgmlType::kQ5_1) {
          qt::quantize_row_q5_1(row.data(), k, reinterpret_cast<qt::BlockQ5_1*>(out));
        } else {
          qt::quantize_row_q4_1(row.data(), k, reinterpret_cast<qt::BlockQ4_1*>(out));
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
      sub->add_option("--to", o->to,
                      "int8 (Q8_0), int5 (Q5_1) or int4 (Q4_1); groups of 32 with scale (and min)")
          ->check(CLI::IsMember({"int8", "int5", "int4"}));
      sub->add_option("-o,--output", o->out, "Output .gguf file")->required();
      sub->callback([o] { run_quantize(*o); });
    });

}  // namespace
}  // namespace qs::cli
