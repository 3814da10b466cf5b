// Parsed OpenAI requests -> what the engine runs: the prompt's token ids
// (chat messages rendered through the Qwen2.5 template as segments, so user
// text cannot inject special tokens), sampling parameters with the model's
// generation_config defaults for unset fields, and the length checks against
// the context (the error names both numbers).
#pragma once

#include <cstdint>
#include <vector>

#include "server/backend.h"
#include "server/generation.h"
#include "server/openai_protocol.h"

namespace qs::server {

// Renders messages (+ tools) and encodes them. Errors are 400s naming "messages".
ApiResult<std::vector<int32_t>> encode_chat_prompt(const std::vector<ChatMessage>& messages,
                                                   const std::vector<ToolDef>* tools,
                                                   bool add_generation_prompt,
                                                   bool continue_final_message,
                                                   const tokenizer::Tokenizer& tok);

ApiResult<GenerationJob> build_chat_job(const ChatCompletionRequest& req, const Backend& b);
// *prompt_text receives the prompt as text (for echo).
ApiResult<GenerationJob> build_completion_job(const CompletionRequest& req, const Backend& b,
                                              std::string* prompt_text);

}  // namespace qs::server
