#include "tokenizer/tool_calls.h"

#include <nlohmann/json.hpp>
#include <random>

#include "tokenizer/py_json.h"

namespace qs::tokenizer {
namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string new_call_id() {
  static constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id.push_back(kAlnum[rng() % 62]);
  return id;
}

ParsedOutput malformed(std::string_view text, std::string why) {
  ParsedOutput out;
  out.content = std::string(text);
  out.malformed = true;
  out.error = std::move(why);
  return out;
}

}  // namespace

ParsedOutput parse_tool_calls(std::string_view text) {
  ParsedOutput out;
  size_t open = text.find(kOpen);
  if (open == std::string_view::npos) {
    out.content = std::string(text);
    return out;
  }
  std::string_view before = text.substr(0, open);
  while (!before.empty() && is_ws(before.back())) before.remove_suffix(1);
  out.content = std::string(before);
  size_t pos = open;
  int index = 0;
  while (true) {
    size_t body_start = pos + kOpen.size();
    size_t close = text.find(kClose, body_start);
    if (close == std::string_view::npos)
      return malformed(text, "tool call " + std::to_string(index) + " is not closed");
    std::string_view body = trim(text.substr(body_start, close - body_start));
    auto j = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
    const std::string where = "tool call " + std::to_string(index);
    if (j.is_discarded()) return malformed(text, where + ": not valid JSON");
    if (!j.is_object()) return malformed(text, where + ": not a JSON object");
    auto name = j.find("name");
    if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      return malformed(text, where + ": no \"name\" string");
    ToolCall call;
    call.id = new_call_id();
    call.name = name->get<std::string>();
    auto args = j.find("arguments");
    if (args == j.end() || args->is_null()) {
      call.arguments = "{}";
    } else if (args->is_object()) {
      call.arguments = py_json_dumps(*args);
    } else if (args->is_string()) {
      call.arguments = args->get<std::string>();
    } else {
      return malformed(text, where + ": \"arguments\" is neither an object nor a string");
    }
    out.tool_calls.push_back(std::move(call));
    ++index;
    pos = close + kClose.size();
    size_t next = text.find(kOpen, pos);
    std::string_view between = trim(
        text.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (!between.empty()) {
      if (!out.content.empty()) out.content += "\n";
      out.content += between;
    }
    if (next == std::string_view::npos) break;
    pos = next;
  }
  return out;
}

bool may_start_tool_call(std::string_view text) {
  if (text.find(kOpen) != std::string_view::npos) return true;
  for (size_t k = 1; k < kOpen.size(); ++k) {
    if (text.size() >= k && text.substr(text.size() - k) == kOpen.substr(0, k)) return true;
  }
  return false;
}

}  // namespace qs::tokenizer
