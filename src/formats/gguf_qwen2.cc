#include "formats/gguf_qwen2.h"

#include <utility>

namespace qs {

Result<Qwen2Config> qwen2_config_from_gguf(const GgufFile& f) {
  const std::string& p = f.path();
  auto arch = f.get_string("general.architecture");
  if (!arch) return Status::Error(p + ": no general.architecture");
  if (*arch != "qwen2") return Status::Error(p + ": architecture '" + *arch + "' is not qwen2");
  Qwen2Config c;
  c.architectures = {"Qwen2ForCausalLM"};
  auto need = [&](const char* key, int64_t* out) -> Status {
    auto v = f.get_int(key);
    if (!v) return Status::Error(p + ": missing or non-integer metadata '" + key + "'");
    *out = *v;
    return Status::Ok();
  };
  QS_RETURN_IF_ERROR(need("qwen2.block_count", &c.num_hidden_layers));
  QS_RETURN_IF_ERROR(need("qwen2.embedding_length", &c.hidden_size));
  QS_RETURN_IF_ERROR(need("qwen2.feed_forward_length", &c.intermediate_size));
  QS_RETURN_IF_ERROR(need("qwen2.attention.head_count", &c.num_attention_heads));
  c.num_key_value_heads =
      f.get_int("qwen2.attention.head_count_kv").value_or(c.num_attention_heads);
  c.max_position_embeddings = f.get_int("qwen2.context_length").value_or(32768);
  c.rope_theta = f.get_float("qwen2.rope.freq_base").value_or(1e6);
  c.rms_norm_eps = f.get_float("qwen2.attention.layer_norm_rms_epsilon").value_or(1e-6);
  if (c.num_attention_heads <= 0) return Status::Error(p + ": head_count must be positive");
  c.head_dim = c.hidden_size / c.num_attention_heads;
  const GgufTensor* emb = f.find("token_embd.weight");
  if (emb == nullptr) return Status::Error(p + ": missing tensor 'token_embd.weight'");
  if (emb->ne.size() != 2) return Status::Error(p + ": token_embd.weight is not 2-D");
  c.vocab_size = static_cast<int64_t>(emb->ne[1]);
  c.tie_word_embeddings = f.find("output.weight") == nullptr;
  if (auto eos = f.get_int("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {*eos};
  if (auto bos = f.get_int("tokenizer.ggml.bos_token_id")) c.bos_token_id = *bos;
  c.torch_dtype = "gguf";
  QS_RETURN_IF_ERROR(validate_qwen2_config(c, p));
  return c;
}

std::string gguf_tensor_name(const std::string& hf) {
  static const std::pair<const char*, const char*> kTop[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  for (const auto& [a, b] : kTop)
    if (hf == a) return b;
  const std::string pre = "model.layers.";
  if (hf.rfind(pre, 0) != 0) return "";
  const size_t dot = hf.find('.', pre.size());
  if (dot == std::string::npos) return "";
  const std::string layer = hf.substr(pre.size(), dot - pre.size());
  const std::string rest = hf.substr(dot + 1);
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  for (const auto& [a, b] : kLayer)
    if (rest == a) return "blk." + layer + "." + b;
  return "";
}

}  // namespace qs
