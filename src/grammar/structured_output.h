// Structured output: the public entry points of the grammar engine.
//
//   auto vocab = Vocabulary::FromTokenizer(tok, model_vocab_size);   // once
//   GrammarCache cache(*vocab);                                       // once
//   auto g = cache.json_schema(schema);        // per request, 400 on error
//   Matcher m(*g);  ... m.fill_mask(mask); sample; m.accept(token) ...
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "grammar/compiled_grammar.h"
#include "grammar/matcher.h"
#include "grammar/vocabulary.h"

namespace qs::grammar {

using GrammarPtr = std::shared_ptr<const CompiledGrammar>;

// A JSON value valid against `schema`. Errors (an HTTP 400 for the caller)
// name the keyword and its location.
Result<GrammarPtr> compile_json_schema(const nlohmann::json& schema,
                                       std::shared_ptr<const Vocabulary> vocab);
// response_format {"type": "json_object"}: any JSON object.
Result<GrammarPtr> compile_any_json_object(std::shared_ptr<const Vocabulary> vocab);

struct ToolSpec {
  std::string name;
  nlohmann::json parameters = nlohmann::json::object();  // JSON Schema of the arguments
};
enum class ToolMode {
  kRequired,  // one or more calls (up to kMaxToolCalls), any of the tools
  kNamed,     // exactly one call of `named`
  kAuto,      // free text; once <tool_call> is generated, a forced call follows
};
constexpr int kMaxToolCalls = 8;
// The output is <tool_call>\n{"name": "<name>", "arguments": <args>}\n</tool_call>
// blocks separated by "\n", then the end of sequence.
Result<GrammarPtr> compile_tool_call(const std::vector<ToolSpec>& tools, ToolMode mode,
                                     const std::string& named,
                                     std::shared_ptr<const Vocabulary> vocab);

// Thread-safe LRU of compiled grammars keyed by the canonical schema text
// (nlohmann's sorted-key dump). Errors are not cached.
class GrammarCache {
 public:
  explicit GrammarCache(std::shared_ptr<const Vocabulary> vocab, size_t capacity = 64)
      : vocab_(std::move(vocab)), capacity_(capacity) {}
  Result<GrammarPtr> json_schema(const nlohmann::json& schema);
  Result<GrammarPtr> any_json_object();
  Result<GrammarPtr> tool_call(const std::vector<ToolSpec>& tools, ToolMode mode,
                               const std::string& named);
  size_t hits() const;
  size_t misses() const;

 private:
  template <typename F>
  Result<GrammarPtr> get(const std::string& key, F&& make);
  std::shared_ptr<const Vocabulary> vocab_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<std::string, GrammarPtr>> lru_;  // most recent first
  std::unordered_map<std::string, std::list<std::pair<std::string, GrammarPtr>>::iterator> map_;
  size_t hits_ = 0, misses_ = 0;
};

}  // namespace qs::grammar
