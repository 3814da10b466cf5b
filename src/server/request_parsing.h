// Internal to the server layer: pieces shared by the request parsers
// (chat, completions, tokenize). Each records its first error in the reader.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "server/json_fields.h"
#include "server/openai_protocol.h"

namespace qs::server {

// Reads the SamplingFields keys of the top-level request object into *out.
void parse_sampling_fields(FieldReader& r, const ServerLimits& limits, SamplingFields* out);

// Reads "messages" (required, non-empty array) into *out.
void parse_messages(FieldReader& r, std::vector<ChatMessage>* out);

// Reads "tools" (optional array of function tools) into *out.
void parse_tools(FieldReader& r, std::vector<ToolDef>* out);

// Rejects fields whose meaning we do not implement when they carry a value
// that would matter (e.g. a non-empty logit_bias).
void reject_unsupported_fields(FieldReader& r);

}  // namespace qs::server
