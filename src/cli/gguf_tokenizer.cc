#include "cli/gguf_tokenizer.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/gguf_sampling.h"

namespace qs::cli {

bool is_gguf_path(const std::string& path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

Result<std::unique_ptr<tokenizer::Tokenizer>> tokenizer_from_gguf(GgufTokenizer t,
                                                                  const std::string& source) {
  tokenizer::TokenList list;
  list.tokens = std::move(t.tokens);
  list.types = std::move(t.types);
  list.merges = std::move(t.merges);
  list.eos_id = t.eos_id;
  list.chat_template = std::move(t.chat_template);
  return tokenizer::Tokenizer::FromTokenList(std::move(list), source);
}

Result<std::unique_ptr<tokenizer::Tokenizer>> load_model_tokenizer(const std::string& path) {
  if (!is_gguf_path(path)) return tokenizer::Tokenizer::Load(path);
  QS_ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  QS_ASSIGN_OR_RETURN(GgufTokenizer t, read_gguf_tokenizer(*file));
  return tokenizer_from_gguf(std::move(t), path);
}

Result<GenerationConfig> load_model_generation_defaults(const std::string& path) {
  if (!is_gguf_path(path)) return load_generation_config(path + "/generation_config.json");
  QS_ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  return read_gguf_sampling(*file);
}

namespace {

// tokenizer_config.json's "<typ>_token": a string or {"content": ...}; "" if unset.
std::string token_content(const nlohmann::json& cfg, const std::string& key) {
  if (!cfg.is_object() || !cfg.contains(key)) return {};
  const nlohmann::json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return {};
}

}  // namespace

Result<GgufTokenizer> gguf_tokenizer_from_dir(const std::string& dir, const Qwen2Config& c) {
  QS_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::Load(dir));
  if (tok->vocab_size() > c.vocab_size) {
    return Status::Error(dir + ": the tokenizer has " + std::to_string(tok->vocab_size()) +
                         " ids, more than config.json's vocab_size " +
                         std::to_string(c.vocab_size));
  }
  tokenizer::TokenList list = tok->to_token_list(static_cast<int32_t>(c.vocab_size));
  GgufTokenizer t;
  t.tokens = std::move(list.tokens);
  t.types = std::move(list.types);
  t.merges = std::move(list.merges);
  t.chat_template = std::move(list.chat_template);

  nlohmann::json cfg;
  if (auto text = read_text_file(dir + "/tokenizer_config.json"); text.ok())
    cfg = nlohmann::json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
  QS_ASSIGN_OR_RETURN(GenerationConfig gen,
                      load_generation_config(dir + "/generation_config.json"));
  auto by_content = [&](const char* key) -> std::optional<int64_t> {
    const std::string content = token_content(cfg, key);
    if (content.empty()) return std::nullopt;
    auto id = tok->token_id(content);
    return id ? std::optional<int64_t>(*id) : std::nullopt;
  };
  t.bos_id = by_content("bos_token");
  if (!t.bos_id) t.bos_id = c.bos_token_id ? c.bos_token_id : gen.bos_token_id;
  t.eos_id = by_content("eos_token");
  if (!t.eos_id && !c.eos_token_ids.empty()) t.eos_id = c.eos_token_ids[0];
  if (!t.eos_id && !gen.eos_token_ids.empty()) t.eos_id = gen.eos_token_ids[0];
  t.pad_id = by_content("pad_token");
  if (!t.pad_id) t.pad_id = gen.pad_token_id;
  for (std::optional<int64_t>* id : {&t.bos_id, &t.eos_id, &t.pad_id})
    if (*id && (**id < 0 || **id >= c.vocab_size)) id->reset();  // unusable: leave it out
  if (cfg.is_object() && cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
    t.add_bos = cfg["add_bos_token"].get<bool>();
  if (cfg.is_object() && cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean())
    t.add_eos = cfg["add_eos_token"].get<bool>();
  return t;
}

}  // namespace qs::cli
