// RoPE inverse frequencies, transcribed from transformers' modeling_rope_utils.py
// (_compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
// _compute_yarn_parameters). Tensor arithmetic there is float32 (python scalars
// are cast to float32), scalar arithmetic (the yarn correction range, the
// attention factor) is double; we keep the same split so results match bit for
// bit up to the libm pow.
//
// Yarn: `factor` is rope_scaling.factor and the correction range uses
// rope_scaling.original_max_position_embeddings (else max_position_embeddings),
// as transformers 4.4x and vLLM do for Qwen2.5's recommended
// {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}.
// (The newest transformers replace factor by max_position_embeddings /
// original_max_position_embeddings when the latter is given, a DeepSeek-V3
// convention that would turn Qwen's recommended config into factor 1.)
#include <cmath>

#include "formats/hf_config.h"

namespace qs {

namespace {

// base ** (arange(0, dim, 2) / dim), float32: [dim / 2]
std::vector<float> pos_freqs(double base, int64_t dim) {
  std::vector<float> p(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i)
    p[i] = std::pow(static_cast<float>(base), static_cast<float>(2 * i) / static_cast<float>(dim));
  return p;
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// Dimension index at which a wavelength completes `rotations` turns over `max_pos`.
double correction_dim(double rotations, int64_t dim, double base, double max_pos) {
  return (static_cast<double>(dim) * std::log(max_pos / (rotations * 2 * M_PI))) /
         (2 * std::log(base));
}

}  // namespace

Result<RopeInit> compute_rope_init(const Qwen2Config& c) {
  QS_RETURN_IF_ERROR(validate_qwen2_config(c, "config"));
  const int64_t dim = c.head_dim;
  const std::vector<float> pf = pos_freqs(c.rope_theta, dim);
  RopeInit out;
  out.inv_freq.resize(pf.size());
  const std::string type = c.rope_scaling ? c.rope_scaling->type : "default";

  if (type == "default" || type == "linear") {
    for (size_t i = 0; i < pf.size(); ++i) out.inv_freq[i] = 1.0f / pf[i];
    if (type == "linear") {
      const float f = static_cast<float>(c.rope_scaling->factor);
      for (float& v : out.inv_freq) v /= f;
    }
    return out;
  }

  // yarn
  const RopeScaling& r = *c.rope_scaling;
  const double factor = r.factor;
  const double orig_max =
      static_cast<double>(r.original_max_position_embeddings.value_or(c.max_position_embeddings));
  double attention = 0;
  if (r.attention_factor) {
    attention = *r.attention_factor;
  } else if (r.mscale && *r.mscale != 0 && r.mscale_all_dim && *r.mscale_all_dim != 0) {
    attention = yarn_mscale(factor, *r.mscale) / yarn_mscale(factor, *r.mscale_all_dim);
  } else {
    attention = yarn_mscale(factor, 1.0);
  }
  double low = correction_dim(r.beta_fast, dim, c.rope_theta, orig_max);
  double high = correction_dim(r.beta_slow, dim, c.rope_theta, orig_max);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // prevent a zero-width ramp
  const float flow = static_cast<float>(low);
  const float span = static_cast<float>(high - low);
  const float ffactor = static_cast<float>(factor);
  for (size_t i = 0; i < pf.size(); ++i) {
    const float extrapolation = 1.0f / pf[i];
    const float interpolation = 1.0f / (ffactor * pf[i]);
    float ramp = (static_cast<float>(i) - flow) / span;
    ramp = std::min(std::max(ramp, 0.0f), 1.0f);
    const float extrapolation_factor = 1.0f - ramp;
    out.inv_freq[i] =
        interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
  }
  out.attention_scaling = static_cast<float>(attention);
  return out;
}

}  // namespace qs
