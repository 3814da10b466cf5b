#include "cli/model_options.h"

#include "cli/command_registry.h"

namespace qs::cli {

namespace {
constexpr size_t kBlockSize = 16;
}

void add_model_options(CLI::App* sub, ModelArgs* a) {
  sub->add_option("-m,--model", a->dir, "Hugging Face model directory or .gguf file")->required();
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)");
  sub->add_option("--precision", a->precision, "Matmul activations: bf16 (fast) or exact (f32)")
      ->check(CLI::IsMember({"bf16", "exact"}));
  sub->add_option("--kv-cache-dtype", a->kv_dtype,
                  "KV cache element type: bf16, f32 or int8 (per-vector scales)")
      ->check(CLI::IsMember({"bf16", "f32", "int8"}));
  sub->add_option("--quantize", a->quantize,
                  "Quantize weights at load: int8 (Q8_0), int5 (5-bit, groups of 32 with "
                  "min), int4 (4-bit, groups of 32 with min), int4-g128")
      ->check(CLI::IsMember({"int8", "int5", "int4", "int4-g128"}));
  sub->add_flag("!--no-huge-pages", a->huge_pages,
                "Keep the weights where loading put them (mmap / heap, 4 KB pages) instead of "
                "copying them into 2 MB pages in the background");
}

ModelOptions to_model_options(const ModelArgs& a) {
  ModelOptions o;
  o.threads = a.threads;
  o.precision = a.precision == "exact" ? MatmulPrecision::kExact : MatmulPrecision::kBf16;
  if (a.quantize == "int8") o.quantize = kernels::WeightFormat::kQ8_0;
  if (a.quantize == "int4" || a.quantize == "int4-g128") o.quantize = kernels::WeightFormat::kQ4;
  if (a.quantize == "int5") o.quantize = kernels::WeightFormat::kQ5;
  o.quantize_group = a.quantize == "int4-g128" ? 128 : 32;
  o.huge_page_weights = a.huge_pages;
  return o;
}

DType kv_dtype_of(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "int8") return DType::I8;
  return DType::BF16;
}

DType kv_dtype_of(const ModelArgs& a) { return kv_dtype_of(a.kv_dtype); }

std::unique_ptr<Qwen2Model> load_model_or_throw(const ModelArgs& a) {
  auto m = Qwen2Model::Load(a.dir, to_model_options(a));
  if (!m.ok()) throw CommandError{m.status().message(), 1};
  return std::move(m).value();
}

static KVCache make_kv(Qwen2Model& model, const ModelArgs& args, size_t max_len) {
  size_t blocks = (max_len + kBlockSize - 1) / kBlockSize;
  auto kv = KVCache::Create(model.kv_shape(blocks, kBlockSize, kv_dtype_of(args)));
  if (!kv.ok()) throw CommandError{kv.status().message(), 1};
  return std::move(kv).value();
}

SingleSequence::SingleSequence(Qwen2Model& model, const ModelArgs& args, size_t max_len)
    : model_(model), kv_(make_kv(model, args, max_len)) {
  for (size_t i = 0; i < kv_.shape().num_blocks; ++i) table_.push_back(static_cast<int32_t>(i));
  logits_.resize(model.config().vocab_size);
}

const std::vector<float>& SingleSequence::feed(const std::vector<int32_t>& ids) {
  if (len_ + ids.size() > table_.size() * kBlockSize)
    throw CommandError{"sequence longer than the KV cache allocated for it", 1};
  batch_.clear();
  batch_.add_sequence(ids.data(), static_cast<int32_t>(ids.size()), static_cast<int32_t>(len_),
                      table_, true);
  Status s = model_.forward(batch_, kv_, logits_.data());
  if (!s.ok()) throw CommandError{s.message(), 1};
  len_ += ids.size();
  return logits_;
}

int32_t argmax(const std::vector<float>& logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

}  // namespace qs::cli
