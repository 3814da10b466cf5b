// POST /v1/chat/completions request: messages, tools, tool_choice,
// response_format, and the chat-only fields; the sampling fields are shared.
#include <set>

#include "server/request_parsing.h"

namespace qs::server {

const char* role_name(Role r) {
  switch (r) {
    case Role::kSystem:
      return "system";
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
    case Role::kTool:
      return "tool";
  }
  return "user";
}

namespace {

bool valid_function_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<Role> parse_role(const std::string& s) {
  if (s == "system" || s == "developer") return Role::kSystem;  // developer: OpenAI's newer name
  if (s == "user") return Role::kUser;
  if (s == "assistant") return Role::kAssistant;
  if (s == "tool") return Role::kTool;
  return std::nullopt;
}

// content: a string, or [{"type":"text","text":...}, ...] joined with "\n"
// (as vLLM does for text-only templates). Returns false when absent/null.
bool parse_content(FieldReader& m, std::string* out) {
  const nlohmann::json* v = m.raw("content");
  if (!v) return false;
  if (v->is_string()) {
    *out = m.string("content").value_or("");
    return true;
  }
  if (!v->is_array()) {
    m.fail(m.param("content") + " must be a string or an array of content parts, got " +
               json_type_name(*v),
           "content");
    return true;
  }
  for (std::size_t j = 0; j < v->size(); ++j) {
    const std::string key = "content[" + std::to_string(j) + "]";
    const nlohmann::json& part = (*v)[j];
    if (!part.is_object()) {
      m.fail(m.param(key) + " must be an object, got " + json_type_name(part), key);
      return true;
    }
    FieldReader p(part, m.param(key) + ".");
    const std::optional<std::string> type = p.string("type");
    if (p.ok() && !type) p.fail(p.param("type") + " is required", "type");
    if (p.ok() && *type != "text") {
      p.fail("content part type '" + *type + "' is not supported (only 'text')", "type");
    }
    const std::optional<std::string> text = p.string("text");
    if (p.ok() && !text) p.fail(p.param("text") + " is required", "text");
    if (!p.ok()) {
      m.fail(p.error());
      return true;
    }
    if (j > 0) out->push_back('\n');
    *out += *text;
  }
  return true;
}

void parse_tool_calls(FieldReader& m, std::vector<ToolCall>* out) {
  const nlohmann::json* arr = m.array("tool_calls");
  if (!arr) return;
  for (std::size_t k = 0; k < arr->size(); ++k) {
    const std::string key = "tool_calls[" + std::to_string(k) + "]";
    const nlohmann::json& tc = (*arr)[k];
    if (!tc.is_object()) return m.fail(m.param(key) + " must be an object", key);
    FieldReader t(tc, m.param(key) + ".");
    ToolCall call;
    call.id = t.string("id").value_or("");
    const std::string type = t.string("type").value_or("function");
    if (t.ok() && type != "function") t.fail("tool call type must be 'function'", "type");
    const nlohmann::json* fn = t.object("function");
    if (t.ok() && !fn) t.fail(t.param("function") + " is required", "function");
    if (!t.ok()) return m.fail(t.error());
    FieldReader f(*fn, t.param("function."));
    const std::optional<std::string> name = f.string("name");
    if (f.ok() && (!name || name->empty())) f.fail(f.param("name") + " is required", "name");
    const nlohmann::json* args = f.raw("arguments");
    if (args && args->is_object()) {
      call.arguments = args->dump();  // some clients send the object itself
    } else {
      call.arguments = f.string("arguments").value_or("");
    }
    if (!f.ok()) return m.fail(f.error());
    call.name = *name;
    out->push_back(std::move(call));
  }
}

void parse_message(const nlohmann::json& v, const std::string& prefix, FieldReader& r,
                   ChatMessage* msg) {
  FieldReader m(v, prefix + ".");
  const std::optional<std::string> role = m.string("role");
  if (m.ok() && !role) m.fail(m.param("role") + " is required", "role");
  if (!m.ok()) return r.fail(m.error());
  const std::optional<Role> parsed = parse_role(*role);
  if (!parsed) {
    return r.fail(ApiError::InvalidRequest(
        "unknown role '" + *role + "' (expected system, user, assistant or tool)",
        m.param("role")));
  }
  msg->role = *parsed;
  const bool has_content = parse_content(m, &msg->content);
  msg->name = m.string("name").value_or("");
  if (m.has("tool_calls") && msg->role != Role::kAssistant) {
    m.fail("only assistant messages may have tool_calls", "tool_calls");
  }
  parse_tool_calls(m, &msg->tool_calls);
  msg->tool_call_id = m.string("tool_call_id").value_or("");
  if (!m.ok()) return r.fail(m.error());
  if (!has_content) {
    if (msg->role == Role::kAssistant && !msg->tool_calls.empty()) {
      msg->content_null = true;
    } else {
      return r.fail(ApiError::InvalidRequest(
          m.param("content") + " is required for a " + *role + " message", m.param("content")));
    }
  }
}

void parse_tool_choice(FieldReader& r, const std::vector<ToolDef>& tools, ToolChoice* out) {
  out->mode = tools.empty() ? ToolChoice::Mode::kNone : ToolChoice::Mode::kAuto;
  const nlohmann::json* v = r.raw("tool_choice");
  if (!v) return;
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    if (s == "none") {
      out->mode = ToolChoice::Mode::kNone;
    } else if (s == "auto") {
      out->mode = ToolChoice::Mode::kAuto;
    } else if (s == "required") {
      out->mode = ToolChoice::Mode::kRequired;
    } else {
      return r.fail("tool_choice must be 'none', 'auto', 'required' or a function object",
                    "tool_choice");
    }
  } else if (v->is_object()) {
    FieldReader c(*v, "tool_choice.");
    const std::string type = c.string("type").value_or("function");
    if (c.ok() && type != "function") c.fail("tool_choice type must be 'function'", "type");
    const nlohmann::json* fn = c.object("function");
    if (c.ok() && !fn) c.fail("tool_choice.function is required", "function");
    if (!c.ok()) return r.fail(c.error());
    FieldReader f(*fn, "tool_choice.function.");
    const std::optional<std::string> name = f.string("name");
    if (f.ok() && !name) f.fail("tool_choice.function.name is required", "name");
    if (!f.ok()) return r.fail(f.error());
    out->mode = ToolChoice::Mode::kFunction;
    out->function_name = *name;
  } else {
    return r.fail(
        "tool_choice must be a string or an object, got " + std::string(json_type_name(*v)),
        "tool_choice");
  }
  if (out->mode == ToolChoice::Mode::kRequired && tools.empty()) {
    return r.fail("tool_choice 'required' needs a non-empty tools list", "tool_choice");
  }
  if (out->mode == ToolChoice::Mode::kFunction) {
    for (const ToolDef& t : tools) {
      if (t.name == out->function_name) return;
    }
    return r.fail("tool_choice names function '" + out->function_name + "', which is not in tools",
                  "tool_choice");
  }
}

void parse_response_format(FieldReader& r, ResponseFormat* out) {
  const nlohmann::json* v = r.object("response_format");
  if (!v) return;
  FieldReader f(*v, "response_format.");
  const std::optional<std::string> type = f.string("type");
  if (f.ok() && !type) f.fail("response_format.type is required", "type");
  if (!f.ok()) return r.fail(f.error());
  if (*type == "text") {
    out->type = ResponseFormat::Type::kText;
  } else if (*type == "json_object") {
    out->type = ResponseFormat::Type::kJsonObject;
  } else if (*type == "json_schema") {
    out->type = ResponseFormat::Type::kJsonSchema;
    const nlohmann::json* js = f.object("json_schema");
    if (f.ok() && !js)
      f.fail("response_format.json_schema is required for type json_schema", "json_schema");
    if (!f.ok()) return r.fail(f.error());
    FieldReader s(*js, "response_format.json_schema.");
    const std::optional<std::string> name = s.string("name");
    if (s.ok() && (!name || !valid_function_name(*name))) {
      s.fail("response_format.json_schema.name is required and must match [A-Za-z0-9_-]{1,64}",
             "name");
    }
    const nlohmann::json* schema = s.object("schema");
    out->strict = s.boolean("strict").value_or(false);
    if (!s.ok()) return r.fail(s.error());
    out->schema_name = *name;
    if (schema) out->schema = *schema;
  } else {
    f.fail("response_format.type must be 'text', 'json_object' or 'json_schema'", "type");
    return r.fail(f.error());
  }
}

}  // namespace

void parse_messages(FieldReader& r, std::vector<ChatMessage>* out) {
  const nlohmann::json* arr = r.array("messages");
  if (!r.ok()) return;
  if (!arr) return r.fail("messages is required", "messages");
  if (arr->empty()) return r.fail("messages must not be empty", "messages");
  out->resize(arr->size());
  for (std::size_t i = 0; i < arr->size() && r.ok(); ++i) {
    const std::string key = "messages[" + std::to_string(i) + "]";
    if (!(*arr)[i].is_object()) {
      return r.fail(key + " must be an object, got " + json_type_name((*arr)[i]), key);
    }
    parse_message((*arr)[i], r.param(key), r, &(*out)[i]);
  }
}

void parse_tools(FieldReader& r, std::vector<ToolDef>* out) {
  const nlohmann::json* arr = r.array("tools");
  if (!arr) return;
  std::set<std::string> names;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::string key = "tools[" + std::to_string(i) + "]";
    if (!(*arr)[i].is_object()) return r.fail(key + " must be an object", key);
    FieldReader t((*arr)[i], r.param(key) + ".");
    const std::string type = t.string("type").value_or("function");
    if (t.ok() && type != "function") t.fail("tool type must be 'function'", "type");
    const nlohmann::json* fn = t.object("function");
    if (t.ok() && !fn) t.fail(t.param("function") + " is required", "function");
    if (!t.ok()) return r.fail(t.error());
    FieldReader f(*fn, t.param("function."));
    ToolDef def;
    const std::optional<std::string> name = f.string("name");
    if (f.ok() && (!name || !valid_function_name(*name))) {
      f.fail(f.param("name") + " is required and must match [A-Za-z0-9_-]{1,64}", "name");
    }
    def.description = f.string("description").value_or("");
    if (const nlohmann::json* params = f.object("parameters")) def.parameters = *params;
    def.strict = f.boolean("strict").value_or(false);
    if (!f.ok()) return r.fail(f.error());
    def.name = *name;
    if (!names.insert(def.name).second) {
      return r.fail(
          ApiError::InvalidRequest("duplicate tool name '" + def.name + "'", f.param("name")));
    }
    out->push_back(std::move(def));
  }
}

ApiResult<ChatCompletionRequest> parse_chat_request(std::string_view body,
                                                    const ServerLimits& limits) {
  ApiResult<nlohmann::json> parsed =
      parse_json_object(body, limits.max_body_bytes, limits.max_json_depth);
  if (!parsed.ok()) return parsed.error();
  const nlohmann::json& j = *parsed;
  FieldReader r(j, "");
  ChatCompletionRequest req;
  req.model = r.string("model").value_or("");
  parse_messages(r, &req.messages);
  reject_unsupported_fields(r);
  parse_sampling_fields(r, limits, &req.sampling);
  // max_completion_tokens is OpenAI's newer name for max_tokens; it wins.
  if (auto mct = r.integer("max_completion_tokens", 1, limits.max_tokens)) {
    req.sampling.max_tokens = mct;
  }
  req.logprobs = r.boolean("logprobs").value_or(false);
  req.top_logprobs =
      static_cast<int>(r.integer("top_logprobs", 0, limits.max_top_logprobs).value_or(0));
  parse_tools(r, &req.tools);
  if (r.ok()) parse_tool_choice(r, req.tools, &req.tool_choice);
  req.parallel_tool_calls = r.boolean("parallel_tool_calls").value_or(true);
  parse_response_format(r, &req.response_format);
  req.add_generation_prompt = r.boolean("add_generation_prompt").value_or(true);
  req.continue_final_message = r.boolean("continue_final_message").value_or(false);
  if (!r.ok()) return r.error();

  if (req.top_logprobs > 0 && !req.logprobs) {
    return ApiError::InvalidRequest("top_logprobs requires logprobs to be true", "top_logprobs");
  }
  if (req.continue_final_message) {
    if (req.add_generation_prompt && r.has("add_generation_prompt")) {
      return ApiError::InvalidRequest(
          "continue_final_message and add_generation_prompt cannot both be true",
          "continue_final_message");
    }
    req.add_generation_prompt = false;
    if (req.messages.back().role != Role::kAssistant) {
      return ApiError::InvalidRequest(
          "continue_final_message needs the last message to be an assistant message",
          "continue_final_message");
    }
  }
  return req;
}

}  // namespace qs::server
