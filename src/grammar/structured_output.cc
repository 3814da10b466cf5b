#include "grammar/structured_output.h"

#include "grammar/json_rules.h"
#include "grammar/schema_compiler.h"

namespace qs::grammar {

using R = GrammarBuilder;

Result<GrammarPtr> compile_json_schema(const nlohmann::json& schema,
                                       std::shared_ptr<const Vocabulary> vocab) {
  GrammarBuilder b;
  JsonRules j(b);
  QS_ASSIGN_OR_RETURN(uint32_t root, schema_rule(schema, j));
  auto g = b.finish(root);
  if (!g.ok()) return g.status().With("json schema");
  return GrammarPtr(std::make_shared<CompiledGrammar>(std::move(vocab), std::move(g).value()));
}

Result<GrammarPtr> compile_any_json_object(std::shared_ptr<const Vocabulary> vocab) {
  GrammarBuilder b;
  JsonRules j(b);
  QS_ASSIGN_OR_RETURN(Grammar g, b.finish(j.any_object()));
  return GrammarPtr(std::make_shared<CompiledGrammar>(std::move(vocab), std::move(g)));
}

Result<GrammarPtr> compile_tool_call(const std::vector<ToolSpec>& tools, ToolMode mode,
                                     const std::string& named,
                                     std::shared_ptr<const Vocabulary> vocab) {
  if (tools.empty()) return Status::Error("tools: no tools given");
  GrammarBuilder b;
  JsonRules j(b);
  std::vector<Seq> calls;
  bool found = false;
  for (size_t i = 0; i < tools.size(); ++i) {
    const ToolSpec& t = tools[i];
    if (mode == ToolMode::kNamed && t.name != named) continue;
    found = true;
    auto args = schema_rule(t.parameters, j);
    if (!args.ok()) return args.status().With("tools[" + std::to_string(i) + "] '" + t.name + "'");
    Seq s = b.literal("{\"name\": " + json_quote(t.name) + ", \"arguments\": ");
    s.push_back(R::ref(args.value()));
    Seq close = b.literal("}");
    s.insert(s.end(), close.begin(), close.end());
    calls.push_back(s);
  }
  if (!found) return Status::Error("tool_choice: no tool named '" + named + "'");
  uint32_t body = b.rule_of("call-json", calls);
  Seq call = b.literal("<tool_call>\n");
  call.push_back(R::ref(body));
  Seq end = b.literal("\n</tool_call>");
  call.insert(call.end(), end.begin(), end.end());
  uint32_t one = b.rule_of("tool-call", {call});
  uint32_t root = one;
  if (mode != ToolMode::kNamed) {
    Seq more = {b.byte('\n'), R::ref(one)};
    uint32_t rest = b.repeat(more, 0, kMaxToolCalls - 1, "more-calls");
    root = b.rule_of("tool-calls", {{R::ref(one), R::ref(rest)}});
  }
  auto g = b.finish(root);
  if (!g.ok()) return g.status().With("tools");
  auto cg = std::make_shared<CompiledGrammar>(std::move(vocab), std::move(g).value());
  cg->allow_tool_tokens = true;
  cg->free_text_prefix = mode == ToolMode::kAuto;
  return GrammarPtr(std::move(cg));
}

template <typename F>
Result<GrammarPtr> GrammarCache::get(const std::string& key, F&& make) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++hits_;
      return it->second->second;
    }
    ++misses_;
  }
  // Compile outside the lock; a concurrent miss of the same key compiles twice.
  Result<GrammarPtr> r = make();
  if (!r.ok()) return r;
  std::lock_guard<std::mutex> lock(mu_);
  if (map_.count(key)) return map_[key]->second;
  lru_.emplace_front(key, r.value());
  map_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return r;
}

Result<GrammarPtr> GrammarCache::json_schema(const nlohmann::json& schema) {
  return get("schema:" + schema.dump(), [&] { return compile_json_schema(schema, vocab_); });
}

Result<GrammarPtr> GrammarCache::any_json_object() {
  return get("json_object", [&] { return compile_any_json_object(vocab_); });
}

Result<GrammarPtr> GrammarCache::tool_call(const std::vector<ToolSpec>& tools, ToolMode mode,
                                           const std::string& named) {
  nlohmann::json key = nlohmann::json::array();
  for (const ToolSpec& t : tools) key.push_back({t.name, t.parameters});
  std::string k =
      "tools:" + std::to_string(static_cast<int>(mode)) + ":" + named + ":" + key.dump();
  return get(k, [&] { return compile_tool_call(tools, mode, named, vocab_); });
}

size_t GrammarCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}
size_t GrammarCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

}  // namespace qs::grammar
