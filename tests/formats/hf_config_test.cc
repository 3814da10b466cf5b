// config.json / generation_config.json parsing and RoPE init against numbers
// from tests/formats/rope_reference.py (torch float32 transcription of
// transformers' rope init functions).
#include "formats/hf_config.h"

#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "formats/generation_config.h"

namespace qs {
namespace {

const std::string kModelConfigDir = std::string(QS_TOKENIZER_DATA) + "/model-config/";

// Qwen2.5-0.5B-Instruct's config.json (values from SOURCES.md / the model card).
const char* kHalfB = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936})";

TEST(HfConfig, Parses7BExample) {
  auto r = load_qwen2_config(kModelConfigDir + "Qwen2.5-7B-Instruct.config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Qwen2Config& c = r.value();
  EXPECT_EQ(c.architectures, std::vector<std::string>{"Qwen2ForCausalLM"});
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_EQ(c.vocab_size, 152064);
  EXPECT_EQ(c.hidden_size, 3584);
  EXPECT_EQ(c.intermediate_size, 18944);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 28);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.max_position_embeddings, 32768);
  EXPECT_EQ(c.max_window_layers, 28);
  EXPECT_EQ(c.sliding_window, 131072);
  EXPECT_FALSE(c.use_sliding_window);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.bos_token_id, 151643);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{151645});
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_FALSE(c.rope_scaling.has_value());
  EXPECT_TRUE(c.quantization_config.empty());
}

TEST(HfConfig, ParsesHalfBAndDefaults) {
  auto r = parse_qwen2_config(kHalfB, "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->head_dim, 64);
  EXPECT_EQ(r->num_key_value_heads, 2);
  EXPECT_TRUE(r->tie_word_embeddings);
  EXPECT_EQ(r->max_window_layers, 21);

  // Minimal config: HF defaults for the rest; kv heads = heads, head_dim derived.
  r = parse_qwen2_config(R"({"vocab_size": 32, "hidden_size": 64, "intermediate_size": 96,
                             "num_hidden_layers": 2, "num_attention_heads": 4})",
                         "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->num_key_value_heads, 4);
  EXPECT_EQ(r->head_dim, 16);
  EXPECT_EQ(r->hidden_act, "silu");
  EXPECT_DOUBLE_EQ(r->rope_theta, 10000.0);
  EXPECT_EQ(r->max_position_embeddings, 32768);
  EXPECT_TRUE(r->eos_token_ids.empty());
  EXPECT_FALSE(r->bos_token_id.has_value());
}

TEST(HfConfig, EosListRopeScalingAndQuantization) {
  std::string j = kHalfB;
  j.pop_back();
  j += R"(, "eos_token_id": [151645, 151643], "head_dim": 64,
          "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
          "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}})";
  auto r = parse_qwen2_config(j, "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  ASSERT_TRUE(r->rope_scaling.has_value());
  EXPECT_EQ(r->rope_scaling->type, "yarn");
  EXPECT_DOUBLE_EQ(r->rope_scaling->factor, 4.0);
  EXPECT_EQ(r->rope_scaling->original_max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(r->rope_scaling->beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(r->rope_scaling->beta_slow, 1.0);
  auto q = nlohmann::json::parse(r->quantization_config);
  EXPECT_EQ(q["quant_method"], "gptq");
  EXPECT_EQ(q["bits"], 4);
  // "rope_type" wins over "type".
  j = kHalfB;
  j.pop_back();
  j += R"(, "rope_scaling": {"type": "yarn", "rope_type": "linear", "factor": 2}})";
  r = parse_qwen2_config(j, "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->rope_scaling->type, "linear");
}

// Replaces (or adds) one top-level field of the 0.5B config.
std::string with(const std::string& key, const std::string& value) {
  auto j = nlohmann::json::parse(kHalfB);
  if (value == "<delete>")
    j.erase(key);
  else
    j[key] = nlohmann::json::parse(value);
  return j.dump();
}

TEST(HfConfig, RejectsBadValues) {
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"{", "not valid JSON"},
      {"[1]", "top level is not a JSON object"},
      {with("hidden_size", "<delete>"), "field 'hidden_size': is missing"},
      {with("hidden_size", "0"), "field 'hidden_size': 0 must be > 0"},
      {with("hidden_size", "\"896\""), "field 'hidden_size': \"896\" is not an integer"},
      {with("hidden_size", "896.5"), "field 'hidden_size': 896.5 is not an integer"},
      {with("vocab_size", "-5"), "field 'vocab_size': -5 must be > 0"},
      {with("num_hidden_layers", "true"), "field 'num_hidden_layers': true is not an integer"},
      {with("num_attention_heads", "13"),
       "field 'num_attention_heads': 13 does not divide hidden_size 896"},
      {with("num_key_value_heads", "3"),
       "field 'num_key_value_heads': 3 does not divide num_attention_heads 14"},
      {with("num_key_value_heads", "0"), "field 'num_key_value_heads': 0 must be > 0"},
      {with("head_dim", "63"), "field 'head_dim': 63 must be even"},
      {with("hidden_act", "\"gelu\""), "field 'hidden_act': 'gelu' is not supported (only 'silu')"},
      {with("model_type", "\"llama\""), "field 'model_type': 'llama' is not 'qwen2'"},
      {with("rms_norm_eps", "0"), "field 'rms_norm_eps': must be > 0"},
      {with("rms_norm_eps", "\"small\""), "field 'rms_norm_eps': \"small\" is not a number"},
      {with("rope_theta", "-1.0"), "field 'rope_theta': must be > 1"},
      {with("tie_word_embeddings", "1"), "field 'tie_word_embeddings': 1 is not true or false"},
      {with("architectures", "\"Qwen2ForCausalLM\""), "field 'architectures': is not a list"},
      {with("eos_token_id", "[151645, \"x\"]"), "field 'eos_token_id': \"x\" is not an integer"},
      {with("eos_token_id", "999999"), "field 'eos_token_id': 999999 is outside the vocabulary"},
      {with("bos_token_id", "-1"), "field 'bos_token_id': -1 is outside the vocabulary"},
      {with("use_sliding_window", "true") + "", ""},  // valid: sliding_window is 32768
      {with("attention_dropout", "2.0"), "field 'attention_dropout': must be in [0, 1]"},
      {with("rope_scaling", "5"), "field 'rope_scaling': is not a JSON object"},
      {with("rope_scaling", R"({"factor": 2})"),
       "field 'rope_scaling': has no 'rope_type' or 'type'"},
      {with("rope_scaling", R"({"type": "dynamic", "factor": 2})"),
       "field 'rope_scaling': type 'dynamic' is not supported (supported: default, linear, yarn)"},
      {with("rope_scaling", R"({"rope_type": "llama3", "factor": 8})"),
       "type 'llama3' is not supported"},
      {with("rope_scaling", R"({"type": "linear"})"),
       "field 'rope_scaling': 'linear' needs 'factor'"},
      {with("rope_scaling", R"({"type": "linear", "factor": -2})"),
       "field 'rope_scaling.factor': must be > 0"},
      {with("rope_scaling", R"({"type": "yarn", "factor": "4"})"),
       "rope_scaling: field 'factor': \"4\" is not a number"},
      {with("rope_scaling",
            R"({"type": "yarn", "factor": 4, "original_max_position_embeddings": 0})"),
       "field 'rope_scaling.original_max_position_embeddings': must be > 0"},
      {with("quantization_config", "\"gptq\""),
       "field 'quantization_config': is not a JSON object"},
  };
  for (const Case& c : cases) {
    auto r = parse_qwen2_config(c.text, "my/config.json");
    if (c.want.empty()) {
      EXPECT_TRUE(r.ok()) << r.status().message();
      continue;
    }
    ASSERT_FALSE(r.ok()) << c.want;
    const std::string& m = r.status().message();
    EXPECT_EQ(m.rfind("my/config.json: ", 0), 0u) << m;
    EXPECT_NE(m.find(c.want), std::string::npos) << m;
  }
}

TEST(HfConfig, MissingFileNamesIt) {
  auto r = load_qwen2_config("/nonexistent/config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/config.json"), std::string::npos);
}

// --- RoPE ---------------------------------------------------------------

const int kIdx[] = {0, 1, 5, 10, 15, 16, 20, 25, 31};

Qwen2Config rope_config(int64_t head_dim, double theta) {
  Qwen2Config c;
  c.vocab_size = 16;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.hidden_size = 2 * head_dim;
  c.head_dim = head_dim;
  c.intermediate_size = 8;
  c.num_hidden_layers = 1;
  c.rope_theta = theta;
  return c;
}

void expect_inv_freq(const RopeInit& got, size_t n, double att, const std::vector<double>& want) {
  ASSERT_EQ(got.inv_freq.size(), n);
  EXPECT_NEAR(got.attention_scaling, att, 1e-6);
  for (size_t k = 0; k < want.size(); ++k) {
    const float v = got.inv_freq[kIdx[k]];
    EXPECT_NEAR(v, want[k], 1e-6 * want[k]) << "inv_freq[" << kIdx[k] << "]";
  }
}

TEST(Rope, Default) {
  auto r = compute_rope_init(rope_config(64, 1e6));
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_inv_freq(r.value(), 32, 1.0,
                  {1, 0.649381638, 0.115478203, 0.0133352149, 0.00153992651, 0.00100000005,
                   0.00017782794, 2.05352499e-05, 1.53992653e-06});
  r = compute_rope_init(rope_config(128, 1e4));
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_inv_freq(r.value(), 64, 1.0,
                  {1, 0.865964353, 0.486967534, 0.237137362, 0.115478203, 0.100000001, 0.0562341288,
                   0.0273841955, 0.0115478197});
  // Every frequency: theta^(-2i/d), independently in double.
  for (size_t i = 0; i < 64; ++i)
    EXPECT_NEAR(r->inv_freq[i], std::pow(1e4, -2.0 * i / 128),
                2e-7 * std::pow(1e4, -2.0 * i / 128));
}

TEST(Rope, Linear) {
  Qwen2Config c = rope_config(64, 1e6);
  c.rope_scaling = RopeScaling{};
  c.rope_scaling->type = "linear";
  c.rope_scaling->factor = 2.5;
  auto r = compute_rope_init(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_inv_freq(r.value(), 32, 1.0,
                  {0.400000006, 0.259752661, 0.0461912826, 0.00533408578, 0.000615970581,
                   0.000400000019, 7.11311732e-05, 8.21409958e-06, 6.15970634e-07});
}

TEST(Rope, YarnQwenRecommended) {
  // Qwen2.5's documented long-context setting, through the parser.
  std::string j = kHalfB;
  j.pop_back();
  j +=
      R"(, "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})";
  auto c = parse_qwen2_config(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto r = compute_rope_init(c.value());
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_inv_freq(r.value(), 32, 1.13862944,
                  {1, 0.649381638, 0.115478203, 0.0133352149, 0.00102661771, 0.000583333371,
                   4.44569851e-05, 5.13381246e-06, 3.84981632e-07});
}

TEST(Rope, YarnCustomMscaleNoTruncate) {
  Qwen2Config c = rope_config(64, 1e4);
  c.rope_scaling = RopeScaling{};
  c.rope_scaling->type = "yarn";
  c.rope_scaling->factor = 8.0;
  c.rope_scaling->original_max_position_embeddings = 4096;
  c.rope_scaling->beta_fast = 16;
  c.rope_scaling->beta_slow = 2;
  c.rope_scaling->mscale = 0.707;
  c.rope_scaling->mscale_all_dim = 1.0;
  c.rope_scaling->truncate = false;
  auto r = compute_rope_init(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_inv_freq(r.value(), 32, 0.949560882,
                  {1, 0.749894202, 0.237137362, 0.0562341288, 0.00991207734, 0.00622188905,
                   0.000435575581, 9.37367731e-05, 1.66690188e-05});
  c.rope_scaling->attention_factor = 0.5;  // an explicit factor wins
  r = compute_rope_init(c);
  ASSERT_TRUE(r.ok());
  EXPECT_FLOAT_EQ(r->attention_scaling, 0.5f);
}

TEST(Rope, RejectsInvalidConfig) {
  Qwen2Config c = rope_config(64, 1e6);
  c.head_dim = 63;
  EXPECT_FALSE(compute_rope_init(c).ok());
}

// --- generation_config.json ------------------------------------------------

TEST(GenerationConfig, Parses7BExample) {
  auto r = load_generation_config(kModelConfigDir + "Qwen2.5-7B-Instruct.generation_config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GenerationConfig& g = r.value();
  EXPECT_EQ(g.bos_token_id, 151643);
  EXPECT_EQ(g.pad_token_id, 151643);
  EXPECT_EQ(g.do_sample, true);
  EXPECT_EQ(g.eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  ASSERT_TRUE(g.repetition_penalty && g.temperature && g.top_p && g.top_k);
  EXPECT_DOUBLE_EQ(*g.repetition_penalty, 1.05);
  EXPECT_DOUBLE_EQ(*g.temperature, 0.7);
  EXPECT_DOUBLE_EQ(*g.top_p, 0.8);
  EXPECT_EQ(*g.top_k, 20);
  EXPECT_FALSE(g.min_p.has_value());
  EXPECT_FALSE(g.max_new_tokens.has_value());
}

TEST(GenerationConfig, MissingFileIsAllUnset) {
  auto r = load_generation_config("/nonexistent-dir/generation_config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->temperature || r->top_p || r->top_k || r->min_p || r->repetition_penalty ||
               r->do_sample || r->max_new_tokens || r->bos_token_id);
  EXPECT_TRUE(r->eos_token_ids.empty());
}

TEST(GenerationConfig, RejectsBadValues) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"nope", "not valid JSON"},
      {R"({"temperature": -1})", "field 'temperature': must be >= 0"},
      {R"({"temperature": "hot"})", "field 'temperature': \"hot\" is not a number"},
      {R"({"top_p": 0})", "field 'top_p': must be in (0, 1]"},
      {R"({"top_p": 1.5})", "field 'top_p': must be in (0, 1]"},
      {R"({"top_k": -1})", "field 'top_k': must be >= 0"},
      {R"({"top_k": 2.5})", "field 'top_k': 2.5 is not an integer"},
      {R"({"min_p": 2})", "field 'min_p': must be in [0, 1]"},
      {R"({"repetition_penalty": 0})", "field 'repetition_penalty': must be > 0"},
      {R"({"do_sample": "yes"})", "field 'do_sample': \"yes\" is not true or false"},
      {R"({"max_new_tokens": 0})", "field 'max_new_tokens': must be > 0"},
      {R"({"eos_token_id": [1, -2]})", "field 'eos_token_id': -2 is negative"},
      {R"({"eos_token_id": {"a": 1}})", "field 'eos_token_id'"},
  };
  for (const Case& c : cases) {
    auto r = parse_generation_config(c.text, "gen.json");
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_EQ(r.status().message().rfind("gen.json: ", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << r.status().message();
  }
  // Nulls are "unset", not errors.
  auto r = parse_generation_config(R"({"temperature": null, "top_k": 0})", "gen.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->temperature.has_value());
  EXPECT_EQ(r->top_k, 0);
}

}  // namespace
}  // namespace qs
