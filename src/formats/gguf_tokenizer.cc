#include "formats/gguf_tokenizer.h"

#include <cmath>
#include <utility>

namespace qs {
namespace {

constexpr const char* kModel = "tokenizer.ggml.model";
constexpr const char* kPre = "tokenizer.ggml.pre";
constexpr const char* kTokens = "tokenizer.ggml.tokens";
constexpr const char* kTypes = "tokenizer.ggml.token_type";
constexpr const char* kMerges = "tokenizer.ggml.merges";
constexpr const char* kBos = "tokenizer.ggml.bos_token_id";
constexpr const char* kEos = "tokenizer.ggml.eos_token_id";
constexpr const char* kPad = "tokenizer.ggml.padding_token_id";
constexpr const char* kAddBos = "tokenizer.ggml.add_bos_token";
constexpr const char* kAddEos = "tokenizer.ggml.add_eos_token";
constexpr const char* kTemplate = "tokenizer.chat_template";

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kU16:
    case GgufType::kI16:
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kU64:
    case GgufType::kI64:
      return true;
    default:
      return false;
  }
}

}  // namespace

void write_gguf_tokenizer(const GgufTokenizer& t, GgufWriter* w) {
  w->add_string(kModel, t.model);
  w->add_string(kPre, t.pre);
  w->add_strings(kTokens, t.tokens);
  w->add_i32s(kTypes, t.types);
  w->add_strings(kMerges, t.merges);
  if (t.bos_id) w->add_u32(kBos, static_cast<uint32_t>(*t.bos_id));
  if (t.eos_id) w->add_u32(kEos, static_cast<uint32_t>(*t.eos_id));
  if (t.pad_id) w->add_u32(kPad, static_cast<uint32_t>(*t.pad_id));
  if (t.add_bos) w->add_bool(kAddBos, *t.add_bos);
  if (t.add_eos) w->add_bool(kAddEos, *t.add_eos);
  if (!t.chat_template.empty()) w->add_string(kTemplate, t.chat_template);
}

Result<GgufTokenizer> read_gguf_tokenizer(const GgufFile& f) {
  const std::string& p = f.path();
  auto fail = [&](const char* key, const std::string& what) {
    return Status::Error(p + ": " + key + ": " + what);
  };
  auto need_string = [&](const char* key, std::string* out) -> Status {
    const GgufValue* v = f.get(key);
    if (v == nullptr) return fail(key, "missing");
    if (v->type != GgufType::kString) return fail(key, "not a string");
    *out = v->str;
    return Status::Ok();
  };
  auto string_array = [&](const char* key, std::vector<std::string>* out) -> Status {
    const GgufValue* v = f.get(key);
    if (v == nullptr) return fail(key, "missing");
    if (v->type != GgufType::kArray || v->elem != GgufType::kString)
      return fail(key, "not an array of strings");
    *out = v->strs;
    return Status::Ok();
  };
  GgufTokenizer t;
  if (f.get(kModel) == nullptr) return fail(kModel, "missing: the file carries no tokenizer");
  QS_RETURN_IF_ERROR(need_string(kModel, &t.model));
  if (t.model != "gpt2")
    return fail(kModel, "'" + t.model + "' is not supported (only gpt2, byte-level BPE)");
  if (f.get(kPre) != nullptr || f.get_string("general.architecture") != "qwen2") {
    QS_RETURN_IF_ERROR(need_string(kPre, &t.pre));
    if (t.pre != "qwen2")
      return fail(kPre, "pre-tokenizer '" + t.pre + "' is not supported (only qwen2)");
  }
  QS_RETURN_IF_ERROR(string_array(kTokens, &t.tokens));
  QS_RETURN_IF_ERROR(string_array(kMerges, &t.merges));
  const GgufValue* types = f.get(kTypes);
  if (types == nullptr) return fail(kTypes, "missing");
  if (types->type != GgufType::kArray || !is_integer_type(types->elem))
    return fail(kTypes, "not an array of integers");
  if (types->nums.size() != t.tokens.size()) {
    return fail(kTypes, std::to_string(types->nums.size()) + " entries for " +
                            std::to_string(t.tokens.size()) + " tokens");
  }
  t.types.reserve(types->nums.size());
  for (double d : types->nums) {
    // Out-of-range values become 0, which the tokenizer rejects as a type.
    t.types.push_back(d >= -1e9 && d <= 1e9 ? static_cast<int32_t>(d) : 0);
  }
  if (const GgufTensor* emb = f.find("token_embd.weight");
      emb != nullptr && emb->ne.size() == 2 && emb->ne[1] != t.tokens.size()) {
    return fail(kTokens, std::to_string(t.tokens.size()) + " tokens for " +
                             std::to_string(emb->ne[1]) + " token_embd.weight rows");
  }
  auto id = [&](const char* key, std::optional<int64_t>* out) -> Status {
    const GgufValue* v = f.get(key);
    if (v == nullptr) return Status::Ok();
    if (!is_integer_type(v->type)) return fail(key, "not an integer");
    if (v->i < 0 || static_cast<uint64_t>(v->i) >= t.tokens.size())
      return fail(key, std::to_string(v->i) + " is outside the vocabulary");
    *out = v->i;
    return Status::Ok();
  };
  QS_RETURN_IF_ERROR(id(kBos, &t.bos_id));
  QS_RETURN_IF_ERROR(id(kEos, &t.eos_id));
  QS_RETURN_IF_ERROR(id(kPad, &t.pad_id));
  auto flag = [&](const char* key, std::optional<bool>* out) -> Status {
    const GgufValue* v = f.get(key);
    if (v == nullptr) return Status::Ok();
    if (v->type != GgufType::kBool) return fail(key, "not a bool");
    *out = v->i != 0;
    return Status::Ok();
  };
  QS_RETURN_IF_ERROR(flag(kAddBos, &t.add_bos));
  QS_RETURN_IF_ERROR(flag(kAddEos, &t.add_eos));
  if (const GgufValue* v = f.get(kTemplate)) {
    if (v->type != GgufType::kString) return fail(kTemplate, "not a string");
    t.chat_template = v->str;
  }
  return t;
}

}  // namespace qs
