#include "formats/gguf_sampling.h"

#include <cmath>
#include <optional>
#include <string>

namespace qs {

void write_gguf_sampling(const GenerationConfig& g, GgufWriter* w) {
  if (g.do_sample.has_value() && !*g.do_sample)
    w->add_f32("general.sampling.temp", 0.0f);
  else if (g.temperature)
    w->add_f32("general.sampling.temp", static_cast<float>(*g.temperature));
  if (g.top_p) w->add_f32("general.sampling.top_p", static_cast<float>(*g.top_p));
  if (g.top_k) w->add_i32("general.sampling.top_k", static_cast<int32_t>(*g.top_k));
  if (g.min_p) w->add_f32("general.sampling.min_p", static_cast<float>(*g.min_p));
  if (g.repetition_penalty)
    w->add_f32("general.sampling.penalty_repeat", static_cast<float>(*g.repetition_penalty));
}

Result<GenerationConfig> read_gguf_sampling(const GgufFile& f) {
  GenerationConfig g;
  // key -> value if present; lo/hi inclusive unless open_lo (lo excluded).
  auto number = [&](const char* key, double lo, double hi, bool open_lo,
                    std::optional<double>* out) -> Status {
    if (f.get(key) == nullptr) return Status::Ok();
    auto v = f.get_float(key);
    if (!v || f.get(key)->type == GgufType::kBool)
      return Status::Error(f.path() + ": " + key + ": not a number");
    if (!std::isfinite(*v) || *v < lo || *v > hi || (open_lo && *v == lo))
      return Status::Error(f.path() + ": " + key + ": " + std::to_string(*v) + " is out of range");
    *out = *v;
    return Status::Ok();
  };
  QS_RETURN_IF_ERROR(number("general.sampling.temp", 0, 1e6, false, &g.temperature));
  QS_RETURN_IF_ERROR(number("general.sampling.top_p", 0, 1, true, &g.top_p));
  QS_RETURN_IF_ERROR(number("general.sampling.min_p", 0, 1, false, &g.min_p));
  QS_RETURN_IF_ERROR(
      number("general.sampling.penalty_repeat", 0, 1e6, true, &g.repetition_penalty));
  std::optional<double> top_k;
  QS_RETURN_IF_ERROR(number("general.sampling.top_k", 0, 1e9, false, &top_k));
  if (top_k) g.top_k = static_cast<int64_t>(*top_k);
  return g;
}

}  // namespace qs
