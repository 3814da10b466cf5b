// The output side of tool calling: Qwen2.5 writes calls as
//   <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>
// blocks; this turns generated text into OpenAI-style tool calls.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qs::tokenizer {

struct ToolCall {
  std::string id;  // "call_" + 24 random alphanumerics
  std::string name;
  std::string arguments;  // a JSON text: objects as json.dumps(ensure_ascii=False) writes them
};

struct ParsedOutput {
  std::string content;  // text outside the blocks (see parse_tool_calls)
  std::vector<ToolCall> tool_calls;
  bool malformed = false;  // a block was unterminated or not valid JSON
  std::string error;       // why, when malformed
};

// Whitespace around and inside the tags is ignored; the JSON must be an object
// with a non-empty string "name" and "arguments" that is an object (written out
// as JSON text) or a string (kept as it is); missing arguments mean "{}".
// Content is the text before the first block with trailing whitespace removed,
// plus any non-whitespace text between or after blocks (trimmed, joined by
// "\n"). If any block is malformed, nothing is extracted: content is the whole
// text, tool_calls is empty and malformed is set.
ParsedOutput parse_tool_calls(std::string_view generated);

// True if `text` ends with a proper prefix of "<tool_call>" or contains
// "<tool_call>": a streaming server holds such text back until it knows.
bool may_start_tool_call(std::string_view text);

}  // namespace qs::tokenizer
