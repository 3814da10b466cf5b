#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::sampling {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Largest first, lowest id on ties: the order every truncation step uses.
template <typename T>
bool higher(const T& a, const T& b) {
  return a.p > b.p || (a.p == b.p && a.id < b.id);
}

// log(sum(exp(logits))) over the finite logits.
double log_sum_exp(const float* logits, int32_t vocab, float max) {
  double s = 0.0;
  for (int32_t i = 0; i < vocab; ++i) s += std::exp(static_cast<double>(logits[i]) - max);
  return max + std::log(s);
}

}  // namespace

void apply_penalties(float* logits, int32_t vocab, const SamplingParams& p,
                     const TokenHistory& history) {
  if (p.repetition_penalty != 1.0f) {
    const float r = p.repetition_penalty;
    for (int32_t t : history.seen()) {
      if (t < 0 || t >= vocab) continue;
      float& l = logits[t];
      l = l > 0.0f ? l / r : l * r;
    }
  }
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    for (const auto& [t, count] : history.output_counts()) {
      if (t < 0 || t >= vocab || count <= 0) continue;
      logits[t] -= p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
    }
  }
}

int32_t apply_mask(float* logits, int32_t vocab, const uint8_t* allowed_mask) {
  if (!allowed_mask) return vocab;
  int32_t allowed = 0;
  for (int32_t i = 0; i < vocab; ++i) {
    if (allowed_mask[i]) {
      ++allowed;
    } else {
      logits[i] = kNegInf;
    }
  }
  return allowed;
}

int32_t argmax(const float* logits, int32_t vocab) {
  int32_t best = -1;
  float best_l = kNegInf;
  for (int32_t i = 0; i < vocab; ++i) {
    if (logits[i] > best_l) {  // strict: the first of equal maxima wins; NaN never wins
      best_l = logits[i];
      best = i;
    }
  }
  return best;
}

Result<SampleResult> Sampler::sample(float* logits, int32_t vocab, const SamplingParams& params,
                                     const TokenHistory& history, Rng& rng,
                                     const uint8_t* allowed_mask) {
  if (vocab <= 0 || !logits) return Status::Error("sampler: empty logits row");
  QS_RETURN_IF_ERROR(params.validate());

  apply_penalties(logits, vocab, params, history);
  if (apply_mask(logits, vocab, allowed_mask) == 0)
    return Status::Error("sampler: the constraint mask allows no token");

  SampleResult out;
  const bool greedy = params.greedy() || params.top_k == 1;
  if (!params.greedy() && params.temperature != 1.0f) {
    const float inv_t = 1.0f / params.temperature;
    for (int32_t i = 0; i < vocab; ++i) logits[i] *= inv_t;
  }
  const int32_t top = argmax(logits, vocab);
  if (top < 0) return Status::Error("sampler: no token has a finite logit (NaN or -inf row)");
  const float max_l = logits[top];

  if (greedy) {
    out.token = top;
  } else {
    // Candidates after top-k: all finite tokens, or the k best.
    cands_.clear();
    const bool use_top_k = params.top_k > 0 && params.top_k < vocab;
    if (use_top_k) {
      // One pass with a min-heap of the k best (logit, id) so far: most logits
      // are rejected by a single compare against the heap's worst. Ties go to
      // the lower id (ids arrive in ascending order, so an equal logit loses).
      const size_t k = static_cast<size_t>(params.top_k);
      auto better = [&](int32_t a, int32_t b) {  // as a heap order: the worst on top
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      };
      idx_.clear();
      for (int32_t i = 0; i < vocab; ++i) {
        if (idx_.size() < k) {
          idx_.push_back(i);
          std::push_heap(idx_.begin(), idx_.end(), better);
        } else if (logits[i] > logits[idx_.front()]) {
          std::pop_heap(idx_.begin(), idx_.end(), better);
          idx_.back() = i;
          std::push_heap(idx_.begin(), idx_.end(), better);
        }
      }
      std::sort(idx_.begin(), idx_.end(), better);  // best first, deterministic
      for (int32_t i : idx_)
        if (logits[i] > kNegInf) cands_.push_back({std::exp(logits[i] - max_l), i});
    } else {
      cands_.reserve(vocab);
      for (int32_t i = 0; i < vocab; ++i) {
        if (logits[i] > kNegInf) cands_.push_back({std::exp(logits[i] - max_l), i});
      }
    }
    double total = 0.0;
    for (const Cand& c : cands_) total += c.p;

    // Top-p: the smallest most-likely set with mass >= top_p. Only its
    // members are sorted: grow a sorted prefix (nth_element + sort of the next
    // slice) until it holds enough mass, instead of sorting the whole
    // vocabulary; a peaked LLM distribution stops after the first 64.
    if (params.top_p < 1.0f && cands_.size() > 1) {
      const double target = static_cast<double>(params.top_p) * total;
      const size_t n = cands_.size();
      size_t sorted = 0;  // cands_[0, sorted) is in final order
      size_t k = std::min<size_t>(64, n);
      size_t keep = n;
      double cum = 0.0;
      for (;;) {
        // Everything in [sorted, n) ranks below the sorted prefix, so only the
        // next (k - sorted) need selecting and sorting.
        if (k < n) {
          std::nth_element(cands_.begin() + sorted, cands_.begin() + (k - 1), cands_.end(),
                           higher<Cand>);
        }
        std::sort(cands_.begin() + sorted, cands_.begin() + k, higher<Cand>);
        size_t i = sorted;
        for (; i < k && cum < target; ++i) cum += cands_[i].p;
        if (cum >= target || k == n) {
          keep = std::max<size_t>(i, 1);
          break;
        }
        sorted = k;
        k = std::min(k * 8, n);
      }
      cands_.resize(keep);
      total = 0.0;
      for (const Cand& c : cands_) total += c.p;
    }

    // Min-p: relative to the most likely candidate (ratios survive renormalisation).
    if (params.min_p > 0.0f && !cands_.empty()) {
      float pmax = 0.0f;
      for (const Cand& c : cands_) pmax = std::max(pmax, c.p);
      const float thr = params.min_p * pmax;
      std::erase_if(cands_, [&](const Cand& c) { return c.p < thr; });
      total = 0.0;
      for (const Cand& c : cands_) total += c.p;
    }

    if (cands_.empty() || !(total > 0.0)) {
      out.token = top;
    } else {
      const double u = rng.uniform() * total;
      double cum = 0.0;
      out.token = cands_.back().id;  // rounding fallback
      for (const Cand& c : cands_) {
        cum += c.p;
        if (u < cum) {
          out.token = c.id;
          break;
        }
      }
    }
  }

  if (params.logprobs || params.top_logprobs > 0) {
    const double lse = log_sum_exp(logits, vocab, max_l);
    out.logprob = static_cast<float>(logits[out.token] - lse);
    const int32_t n = std::min(params.top_logprobs, vocab);
    if (n > 0) {
      idx_.resize(vocab);
      for (int32_t i = 0; i < vocab; ++i) idx_[i] = i;
      auto by_logit = [&](int32_t a, int32_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      };
      std::partial_sort(idx_.begin(), idx_.begin() + n, idx_.end(), by_logit);
      for (int32_t j = 0; j < n; ++j) {
        const int32_t i = idx_[j];
        if (!(logits[i] > kNegInf)) break;  // masked tokens are not alternatives
        out.top_logprobs.push_back({i, static_cast<float>(logits[i] - lse)});
      }
    }
  }
  return out;
}

}  // namespace qs::sampling
