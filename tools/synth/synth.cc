// Assembles a synthetic checkpoint directory from tensor_specs() and the generator.
#include "synth.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/thread_pool.h"
#include "formats/safetensors_writer.h"

namespace qs::synth {
namespace {

// Scale rules; tools/reference/synth.py has the same constants (EMBED_GAIN, ...).
constexpr double kEmbedGain = 3.0;   // logits std ~3 with RMSNorm weights ~1
constexpr double kLinearGain = 2.0;  // layer outputs dominate the embedding in the residual
constexpr float kBiasScale = 0.1f;
constexpr float kNormScale = 0.1f;
constexpr float kNormOffset = 1.0f;

constexpr std::string_view kGenerationConfig = R"({
  "bos_token_id": 151643,
  "pad_token_id": 151643,
  "do_sample": true,
  "eos_token_id": [
    151645,
    151643
  ],
  "repetition_penalty": 1.1,
  "temperature": 0.7,
  "top_p": 0.8,
  "top_k": 20,
  "transformers_version": "4.37.0"
}
)";

float gain_scale(double gain, int64_t fan_in) {
  return static_cast<float>(gain * std::sqrt(3.0 / static_cast<double>(fan_in)));
}

Status write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status::Error(path.string() + ": cannot open for writing");
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!f) return Status::Error(path.string() + ": write failed");
  return Status::Ok();
}

Status copy_one(const std::filesystem::path& from, const std::filesystem::path& to) {
  // The source may be read-only (a shared data folder): copy, then make the copy writable
  // so that synthesizing into the same directory again works.
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove(to, ec);
  fs::copy_file(from, to, ec);
  if (!ec)
    fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add, ec);
  if (ec) return Status::Error(from.string() + " -> " + to.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

size_t TensorSpec::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

std::string_view generation_config_json() { return kGenerationConfig; }

std::vector<TensorSpec> tensor_specs(const Qwen2Config& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t hd = c.head_dim > 0 ? c.head_dim : H / c.num_attention_heads;
  const int64_t q_out = c.num_attention_heads * hd;
  const int64_t kv_out = c.num_key_value_heads * hd;
  const float emb = gain_scale(kEmbedGain, H);
  auto lin = [](int64_t fan_in) { return gain_scale(kLinearGain, fan_in); };

  std::vector<TensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {V, H}, emb, 0.0f});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    specs.push_back({p + "input_layernorm.weight", {H}, kNormScale, kNormOffset});
    specs.push_back({p + "self_attn.q_proj.weight", {q_out, H}, lin(H), 0.0f});
    specs.push_back({p + "self_attn.q_proj.bias", {q_out}, kBiasScale, 0.0f});
    specs.push_back({p + "self_attn.k_proj.weight", {kv_out, H}, lin(H), 0.0f});
    specs.push_back({p + "self_attn.k_proj.bias", {kv_out}, kBiasScale, 0.0f});
    specs.push_back({p + "self_attn.v_proj.weight", {kv_out, H}, lin(H), 0.0f});
    specs.push_back({p + "self_attn.v_proj.bias", {kv_out}, kBiasScale, 0.0f});
    specs.push_back({p + "self_attn.o_proj.weight", {H, q_out}, lin(q_out), 0.0f});
    specs.push_back({p + "post_attention_layernorm.weight", {H}, kNormScale, kNormOffset});
    specs.push_back({p + "mlp.gate_proj.weight", {I, H}, lin(H), 0.0f});
    specs.push_back({p + "mlp.up_proj.weight", {I, H}, lin(H), 0.0f});
    specs.push_back({p + "mlp.down_proj.weight", {H, I}, lin(I), 0.0f});
  }
  specs.push_back({"model.norm.weight", {H}, kNormScale, kNormOffset});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {V, H}, emb, 0.0f});
  return specs;
}

Status synthesize_model(const std::string& config_path, uint64_t seed, const std::string& out_dir,
                        DType dtype, const std::string& tokenizer_dir, int threads) {
  if (dtype != DType::BF16 && dtype != DType::F32) {
    return Status::Error("synthesize_model: dtype " + std::string(dtype_name(dtype)) +
                         " not supported (use BF16 or F32)");
  }
  QS_ASSIGN_OR_RETURN(Qwen2Config config, load_qwen2_config(config_path));
  namespace fs = std::filesystem;
  const fs::path out(out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return Status::Error(out_dir + ": cannot create directory: " + ec.message());
  QS_RETURN_IF_ERROR(copy_one(config_path, out / "config.json"));
  QS_RETURN_IF_ERROR(write_text(out / "generation_config.json", kGenerationConfig));

  // All tensors are held at once (write_safetensors takes pointers): ~1 GB for 0.5B BF16.
  const std::vector<TensorSpec> specs = tensor_specs(config);
  const size_t esize = dtype_size(dtype);
  std::vector<std::vector<uint8_t>> buffers(specs.size());
  ThreadPool pool(threads);
  constexpr size_t kGrain = 1 << 14;  // elements per work unit
  for (size_t t = 0; t < specs.size(); ++t) {
    const TensorSpec& s = specs[t];
    const size_t n = s.numel();
    buffers[t].resize(n * esize);
    const uint64_t stream = stream_of(seed, s.name);
    uint8_t* base = buffers[t].data();
    pool.parallel_for(n, n < kGrain * 4 ? n : kGrain, [&](size_t b, size_t e) {
      if (dtype == DType::BF16) {
        fill_bf16(stream, s.scale, s.offset, b, e, reinterpret_cast<uint16_t*>(base) + b);
      } else {
        fill_f32(stream, s.scale, s.offset, b, e, reinterpret_cast<float*>(base) + b);
      }
    });
  }
  std::vector<TensorToWrite> to_write;
  to_write.reserve(specs.size());
  for (size_t t = 0; t < specs.size(); ++t) {
    to_write.push_back(
        {specs[t].name, dtype, specs[t].shape, buffers[t].data(), buffers[t].size()});
  }
  QS_RETURN_IF_ERROR(
      write_safetensors((out / "model.safetensors").string(), to_write,
                        {{"format", "pt"}, {"qs_synth_seed", std::to_string(seed)}}));

  if (!tokenizer_dir.empty()) {
    for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json"}) {
      QS_RETURN_IF_ERROR(copy_one(fs::path(tokenizer_dir) / name, out / name));
    }
  }
  return Status::Ok();
}

}  // namespace qs::synth
