// The Qwen2.5-Instruct chat template (ChatML with tools), transcribed from the
// official Jinja template in tokenizer_config.json and checked byte for byte
// against Python jinja2 renderings (tests/fixtures/chat_template/).
//
// Rendering produces segments: template text (whose <|im_start|>, <|im_end|>,
// <tool_call>, </tool_call> become special segments) and caller content (never
// special). Tokenizer::encode_segments() then gives exactly the ids HF gets by
// encoding the rendered string, except that special-token text inside content
// stays text, so a user cannot inject a turn.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace qs::tokenizer {

struct ChatToolCall {
  std::string name;
  // An object is written with tojson; a JSON string value is written as a
  // quoted JSON string (what the template's `| tojson` does to a string).
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();

  // From OpenAI's wire form, where arguments is a JSON text: parsed into an
  // object when it is valid JSON (as vLLM does), else kept as a string.
  static ChatToolCall FromOpenAI(std::string name, const std::string& arguments_json);
};

struct ChatMessage {
  std::string role;                    // system | user | assistant | tool (others are skipped)
  std::optional<std::string> content;  // nullopt = null
  std::vector<ChatToolCall> tool_calls;
};

inline constexpr const char* kQwenDefaultSystemPrompt =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// `tools` is the OpenAI tools array (or nullptr); an empty array means no tools.
// Errors where the Jinja template would raise: no messages, or null content in
// a user/system/plain-assistant turn.
Result<std::vector<TextSegment>> render_chat_segments(const std::vector<ChatMessage>& messages,
                                                      const nlohmann::ordered_json* tools,
                                                      bool add_generation_prompt);
Result<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                const nlohmann::ordered_json* tools, bool add_generation_prompt);

}  // namespace qs::tokenizer
