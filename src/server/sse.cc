#include "server/sse.h"

#include "server/openai_responses.h"

namespace qs::server {

std::string sse_event(const nlohmann::json& j) { return "data: " + to_body(j) + "\n\n"; }

std::string sse_done() { return "data: [DONE]\n\n"; }

std::string sse_error(const ApiError& e) { return "data: " + error_body(e) + "\n\n"; }

std::string sse_comment(std::string_view text) {
  std::string out = ": ";
  for (char c : text) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  out += "\n\n";
  return out;
}

std::vector<std::string> sse_parse_data(std::string_view stream, std::string* rest) {
  std::vector<std::string> events;
  std::string data;
  bool have_data = false;
  std::size_t pos = 0;
  std::size_t event_start = 0;
  while (pos < stream.size()) {
    const std::size_t nl = stream.find('\n', pos);
    if (nl == std::string_view::npos) break;  // incomplete line
    std::string_view line = stream.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (line.empty()) {  // blank line: dispatch
      if (have_data) events.push_back(data);
      data.clear();
      have_data = false;
      event_start = pos;
      continue;
    }
    if (line.front() == ':') continue;  // comment
    std::string_view field = line, value;
    if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      if (have_data) data.push_back('\n');
      data.append(value);
      have_data = true;
    }
  }
  if (rest) *rest = std::string(stream.substr(event_start));
  return events;
}

}  // namespace qs::server
