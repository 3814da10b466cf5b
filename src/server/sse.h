// Server-sent events framing for streamed completions:
//   data: <one-line JSON>\n\n   ...   data: [DONE]\n\n
// Compact JSON never contains a raw newline (strings escape it), so one event
// is always one "data:" line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/openai_errors.h"

namespace qs::server {

// "data: " + compact JSON + "\n\n".
std::string sse_event(const nlohmann::json& j);
// "data: [DONE]\n\n": the end of an OpenAI stream.
std::string sse_done();
// An error after streaming began (headers already sent with 200):
// "data: {"error":{...}}\n\n", as vLLM and OpenAI do.
std::string sse_error(const ApiError& e);
// ": <text>\n\n", a comment line clients ignore (keep-alive).
std::string sse_comment(std::string_view text);

// Splits an SSE byte stream into the payloads of its "data:" events (multi-line
// data joined with "\n", comments and other fields skipped, "\r\n" accepted).
// An incomplete trailing event (no blank line yet) is left in *rest when given.
std::vector<std::string> sse_parse_data(std::string_view stream, std::string* rest = nullptr);

}  // namespace qs::server
