// Binds every tensor of the Qwen2 layout, by its Hugging Face name, through a
// format-specific binder B (safetensors directory or GGUF file) that provides
//   Result<kernels::WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols);
//   Result<const float*>          vector(const std::string& name, int64_t n);
// `tied`: lm_head is the embedding (no lm_head tensor to bind).
#pragma once

#include <string>

#include "core/status.h"
#include "formats/hf_config.h"
#include "model/fused_weights.h"
#include "model/qwen2_weights.h"

namespace qs {

template <typename Binder>
Status bind_qwen2_layout(Binder& b, const Qwen2Config& c, bool tied, Qwen2Weights* w) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t qd = c.num_attention_heads * c.head_dim;   // query width
  const int64_t kvd = c.num_key_value_heads * c.head_dim;  // key/value width
  QS_ASSIGN_OR_RETURN(w->embed, b.matrix("model.embed_tokens.weight", V, H));
  // The embedding is gathered (a few rows per token), not streamed: only the
  // lm_head pass over it counts as weight bytes read per token.
  w->matmul_weight_bytes = 0;
  if (tied) {
    w->lm_head = w->embed;
    w->matmul_weight_bytes += w->embed.bytes;
  } else {
    QS_ASSIGN_OR_RETURN(w->lm_head, b.matrix("lm_head.weight", V, H));
  }
  QS_ASSIGN_OR_RETURN(w->final_norm, b.vector("model.norm.weight", H));
  w->layers.resize(c.num_hidden_layers);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Qwen2LayerWeights& L = w->layers[l];
    QS_ASSIGN_OR_RETURN(L.input_norm, b.vector(p + "input_layernorm.weight", H));
    QS_ASSIGN_OR_RETURN(L.q_proj, b.matrix(p + "self_attn.q_proj.weight", qd, H));
    QS_ASSIGN_OR_RETURN(L.q_bias, b.vector(p + "self_attn.q_proj.bias", qd));
    QS_ASSIGN_OR_RETURN(L.k_proj, b.matrix(p + "self_attn.k_proj.weight", kvd, H));
    QS_ASSIGN_OR_RETURN(L.k_bias, b.vector(p + "self_attn.k_proj.bias", kvd));
    QS_ASSIGN_OR_RETURN(L.v_proj, b.matrix(p + "self_attn.v_proj.weight", kvd, H));
    QS_ASSIGN_OR_RETURN(L.v_bias, b.vector(p + "self_attn.v_proj.bias", kvd));
    QS_ASSIGN_OR_RETURN(L.o_proj, b.matrix(p + "self_attn.o_proj.weight", H, qd));
    QS_ASSIGN_OR_RETURN(L.post_attn_norm, b.vector(p + "post_attention_layernorm.weight", H));
    QS_ASSIGN_OR_RETURN(L.gate_proj, b.matrix(p + "mlp.gate_proj.weight", I, H));
    QS_ASSIGN_OR_RETURN(L.up_proj, b.matrix(p + "mlp.up_proj.weight", I, H));
    QS_ASSIGN_OR_RETURN(L.down_proj, b.matrix(p + "mlp.down_proj.weight", H, I));
    join_qkv(&L, static_cast<size_t>(qd), static_cast<size_t>(kvd), w);
    L.gate_up_proj = fuse_rows({&L.gate_proj, &L.up_proj}, w);
  }
  return Status::Ok();
}

}  // namespace qs
