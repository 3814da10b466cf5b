#include "tokenizer/chat_template.h"

#include <string_view>

#include "tokenizer/py_json.h"

namespace qs::tokenizer {
namespace {

// Added tokens that occur in the template's own text.
constexpr std::string_view kTemplateSpecials[] = {"<|im_start|>", "<|im_end|>", "<tool_call>",
                                                  "</tool_call>"};

class Writer {
 public:
  // Template text: its special-token strings become special segments.
  void tmpl(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t best = std::string_view::npos;
      std::string_view which;
      for (std::string_view sp : kTemplateSpecials) {
        size_t p = s.find(sp, i);
        if (p < best) {
          best = p;
          which = sp;
        }
      }
      if (best == std::string_view::npos) {
        text(s.substr(i));
        return;
      }
      text(s.substr(i, best - i));
      segs_.push_back({std::string(which), true});
      i = best + which.size();
    }
  }
  // Caller content: always plain text.
  void text(std::string_view s) {
    if (s.empty()) return;
    if (!segs_.empty() && !segs_.back().special) {
      segs_.back().text.append(s);
    } else {
      segs_.push_back({std::string(s), false});
    }
  }
  std::vector<TextSegment> take() { return std::move(segs_); }

 private:
  std::vector<TextSegment> segs_;
};

// Jinja prints None as "None".
std::string_view printed(const std::optional<std::string>& s) {
  if (s) return *s;  // (a ?: here would make a temporary std::string)
  return "None";
}

bool truthy(const nlohmann::ordered_json* tools) {
  if (tools == nullptr || tools->is_null()) return false;
  if (tools->is_array() || tools->is_object() || tools->is_string()) return !tools->empty();
  if (tools->is_boolean()) return tools->get<bool>();
  return true;
}

}  // namespace

ChatToolCall ChatToolCall::FromOpenAI(std::string name, const std::string& arguments_json) {
  ChatToolCall c;
  c.name = std::move(name);
  auto parsed = nlohmann::ordered_json::parse(arguments_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    c.arguments = arguments_json;
  } else {
    c.arguments = std::move(parsed);
  }
  return c;
}

Result<std::vector<TextSegment>> render_chat_segments(const std::vector<ChatMessage>& messages,
                                                      const nlohmann::ordered_json* tools,
                                                      bool add_generation_prompt) {
  if (messages.empty()) return Status::Error("chat template: no messages");
  auto need_content = [](const ChatMessage& m, size_t i) -> Status {
    if (m.content) return Status::Ok();
    return Status::Error("chat template: message " + std::to_string(i) + " (" + m.role +
                         ") has null content");
  };
  Writer w;
  const bool first_is_system = messages[0].role == "system";
  if (truthy(tools)) {
    w.tmpl("<|im_start|>system\n");
    if (first_is_system) {
      w.text(printed(messages[0].content));
    } else {
      w.tmpl(kQwenDefaultSystemPrompt);
    }
    w.tmpl(
        "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
    if (tools->is_array()) {
      for (const auto& tool : *tools) {
        w.tmpl("\n");
        w.text(py_json_dumps(tool));
      }
    } else if (tools->is_object()) {  // Jinja iterates a dict's keys
      for (const auto& [key, value] : tools->items()) {
        w.tmpl("\n");
        w.text(py_json_dumps(nlohmann::ordered_json(key)));
      }
    } else {
      return Status::Error("chat template: tools must be an array");
    }
    w.tmpl(
        "\n</tools>\n\nFor each function call, return a json object with function name and "
        "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
        "<function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n");
  } else if (first_is_system) {
    QS_RETURN_IF_ERROR(need_content(messages[0], 0));
    w.tmpl("<|im_start|>system\n");
    w.text(*messages[0].content);
    w.tmpl("<|im_end|>\n");
  } else {
    w.tmpl("<|im_start|>system\n");
    w.tmpl(kQwenDefaultSystemPrompt);
    w.tmpl("<|im_end|>\n");
  }

  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool has_calls = !m.tool_calls.empty();
    if (m.role == "user" || (m.role == "system" && i != 0) ||
        (m.role == "assistant" && !has_calls)) {
      QS_RETURN_IF_ERROR(need_content(m, i));
      w.tmpl("<|im_start|>");
      w.tmpl(m.role);
      w.tmpl("\n");
      w.text(*m.content);
      w.tmpl("<|im_end|>\n");
    } else if (m.role == "assistant") {
      w.tmpl("<|im_start|>assistant");
      if (m.content && !m.content->empty()) {
        w.tmpl("\n");
        w.text(*m.content);
      }
      for (const ChatToolCall& c : m.tool_calls) {
        w.tmpl("\n<tool_call>\n{\"name\": \"");
        w.text(c.name);
        w.tmpl("\", \"arguments\": ");
        w.text(py_json_dumps(c.arguments));
        w.tmpl("}\n</tool_call>");
      }
      w.tmpl("<|im_end|>\n");
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") w.tmpl("<|im_start|>user");
      w.tmpl("\n<tool_response>\n");
      w.text(printed(m.content));
      w.tmpl("\n</tool_response>");
      if (i + 1 == messages.size() || messages[i + 1].role != "tool") w.tmpl("<|im_end|>\n");
    }
  }
  if (add_generation_prompt) w.tmpl("<|im_start|>assistant\n");
  return w.take();
}

Result<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                const nlohmann::ordered_json* tools, bool add_generation_prompt) {
  QS_ASSIGN_OR_RETURN(auto segs, render_chat_segments(messages, tools, add_generation_prompt));
  std::string out;
  for (const auto& s : segs) out += s.text;
  return out;
}

}  // namespace qs::tokenizer
