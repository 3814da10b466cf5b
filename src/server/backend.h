// What the HTTP layer serves once the model is loaded: the engine client, the
// tokenizer, the model's generation defaults and names. The cli builds it
// (model loading lives there; the server never includes model headers) and
// hands it to HttpServer::set_backend(); the model object must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine_client.h"
#include "formats/generation_config.h"
#include "grammar/structured_output.h"
#include "tokenizer/tokenizer.h"

namespace qs::server {

struct Backend {
  std::unique_ptr<engine::EngineClient> client;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  GenerationConfig defaults;       // unset request fields take these
  std::vector<int32_t> eos_ids;    // end generation unless ignore_eos
  std::vector<std::string> names;  // names[0] is reported; every one is accepted
  int64_t max_model_len = 0;       // prompt + output, = the scheduler's max_seq_len
  int64_t vocab_size = 0;          // the model's (logits) vocabulary
  int64_t created = 0;             // unix time the model was loaded (/v1/models)
  // Structured output (response_format, forced tool calls): compiled grammars
  // over the tokenizer's vocabulary padded to vocab_size. nullptr = the
  // server rejects response_format json_object/json_schema with a 400.
  std::shared_ptr<grammar::GrammarCache> grammars;
};

}  // namespace qs::server
