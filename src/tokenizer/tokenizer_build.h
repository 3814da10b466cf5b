// Private to the tokenizer: the one constructor every loader ends in (defined
// in tokenizer_load.cc). vocab: (vocabulary string, id); merges: (A, B) by
// rank; eos: the eos token's content ("" = <|im_end|> if present).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace qs::tokenizer::detail {

Result<std::unique_ptr<Tokenizer>> build_tokenizer(
    std::vector<std::pair<std::string, int64_t>> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, std::vector<AddedToken> added,
    std::string eos, std::string chat_template);

}  // namespace qs::tokenizer::detail
