#include "engine/request.h"

#include <utility>

namespace qs::engine {

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kNone:
      break;
  }
  return "";
}

Request Request::make(uint64_t id, std::vector<int32_t> prompt, int32_t max_tokens,
                      std::vector<int32_t> stop_token_ids) {
  Request r;
  r.id = id;
  r.prompt_token_ids = std::move(prompt);
  r.all_token_ids = r.prompt_token_ids;
  r.history.set_prompt(r.prompt_token_ids);
  r.max_tokens = max_tokens;
  r.stop_token_ids = std::move(stop_token_ids);
  return r;
}

}  // namespace qs::engine
