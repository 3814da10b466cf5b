#include "grammar/schema_compiler.h"

#include <cmath>
#include <map>
#include <set>

#include "grammar/regex.h"

namespace qs::grammar {

namespace {

using json = nlohmann::json;
using R = GrammarBuilder;

constexpr int kMaxDepth = 64;
constexpr int64_t kMaxCount = 1000;  // minItems, maxLength ... above: error

const std::set<std::string> kAnnotations = {
    "$schema",     "$id",     "id",          "$comment",      "title",
    "description", "default", "examples",    "readOnly",      "writeOnly",
    "deprecated",  "$defs",   "definitions", "discriminator", "nullable_"};
const std::set<std::string> kSupported = {"type",
                                          "properties",
                                          "required",
                                          "additionalProperties",
                                          "enum",
                                          "const",
                                          "items",
                                          "prefixItems",
                                          "minItems",
                                          "maxItems",
                                          "anyOf",
                                          "oneOf",
                                          "allOf",
                                          "$ref",
                                          "minLength",
                                          "maxLength",
                                          "pattern",
                                          "format",
                                          "minimum",
                                          "maximum",
                                          "exclusiveMinimum",
                                          "exclusiveMaximum"};
const std::set<std::string> kFormats = {"date", "date-time", "time", "email", "uuid"};

// Type bits for oneOf overlap checks.
enum : unsigned { kNull = 1, kBool = 2, kInt = 4, kFrac = 8, kStr = 16, kArr = 32, kObj = 64 };

class Compiler {
 public:
  Compiler(const json& root, JsonRules& j) : root_(root), j_(j), b_(j.builder()) {}

  Result<uint32_t> value(const json& s, const std::string& path, int depth) {
    if (depth > kMaxDepth) return err(path, "nesting deeper than 64");
    if (s.is_boolean()) {
      if (s.get<bool>()) return j_.any_value();
      return b_.new_rule("false");  // no alternatives: pruned, or "admits no value"
    }
    if (!s.is_object()) return err(path, "a schema must be an object or a boolean");
    for (auto it = s.begin(); it != s.end(); ++it)
      if (!kSupported.count(it.key()) && !kAnnotations.count(it.key()))
        return err(path, "unsupported keyword '" + it.key() + "'");
    if (s.contains("$ref")) return ref(s, path, depth);
    if (s.contains("allOf")) return all_of(s, path, depth);
    if (s.contains("anyOf") || s.contains("oneOf")) return any_of(s, path, depth);
    if (s.contains("const")) return literal_alts(s, {s["const"]}, path);
    if (s.contains("enum")) {
      const json& e = s["enum"];
      if (!e.is_array()) return err(path, "'enum' must be an array");
      return literal_alts(s, std::vector<json>(e.begin(), e.end()), path);
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const json& x : t) {
          if (!x.is_string()) return err(path, "'type' entries must be strings");
          types.push_back(x.get<std::string>());
        }
      } else {
        return err(path, "'type' must be a string or a non-empty array");
      }
    } else {
      types = infer_types(s);
      if (types.empty()) return j_.any_value();
    }
    std::vector<Seq> alts;
    for (const std::string& t : types) {
      QS_ASSIGN_OR_RETURN(uint32_t r, typed(s, t, path, depth));
      alts.push_back({R::ref(r)});
    }
    if (alts.size() == 1) return alts[0][0].id;
    return b_.rule_of("types", alts);
  }

 private:
  static Status err(const std::string& path, const std::string& what) {
    return Status::Error("schema at " + (path.empty() ? std::string("/") : path) + ": " + what);
  }

  static std::vector<std::string> infer_types(const json& s) {
    for (const char* k : {"properties", "required", "additionalProperties"})
      if (s.contains(k)) return {"object"};
    for (const char* k : {"items", "prefixItems", "minItems", "maxItems"})
      if (s.contains(k)) return {"array"};
    for (const char* k : {"minLength", "maxLength", "pattern", "format"})
      if (s.contains(k)) return {"string"};
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
      if (s.contains(k)) return {"number"};
    return {};
  }

  Result<const json*> resolve(const std::string& ref, const std::string& path) {
    if (ref.empty() || ref[0] != '#')
      return err(path, "'$ref' '" + ref + "': only local references (#/...) are supported");
    if (ref == "#") return &root_;
    try {
      const json& t = root_.at(json::json_pointer(ref.substr(1)));
      return &t;
    } catch (const std::exception&) {
      return err(path, "'$ref' '" + ref + "' does not resolve");
    }
  }

  Result<uint32_t> ref(const json& s, const std::string& path, int depth) {
    for (auto it = s.begin(); it != s.end(); ++it)
      if (it.key() != "$ref" && !kAnnotations.count(it.key()))
        return err(path, "'$ref' next to '" + it.key() + "' is unsupported (wrap it in allOf)");
    if (!s["$ref"].is_string()) return err(path, "'$ref' must be a string");
    std::string target = s["$ref"].get<std::string>();
    auto it = refs_.find(target);
    if (it != refs_.end()) return it->second;
    QS_ASSIGN_OR_RETURN(const json* t, resolve(target, path));
    uint32_t r = b_.new_rule("ref " + target);
    refs_[target] = r;
    QS_ASSIGN_OR_RETURN(uint32_t body, value(*t, target.substr(1), depth + 1));
    b_.add_alt(r, {R::ref(body)});
    return r;
  }

  // Follows $ref chains (for merging).
  Result<json> deref(const json& s, const std::string& path) {
    json cur = s;
    for (int i = 0; i < 32 && cur.is_object() && cur.contains("$ref"); ++i) {
      if (!cur["$ref"].is_string()) return err(path, "'$ref' must be a string");
      QS_ASSIGN_OR_RETURN(const json* t, resolve(cur["$ref"].get<std::string>(), path));
      json next = *t;
      for (auto it = cur.begin(); it != cur.end(); ++it)
        if (it.key() != "$ref" && !kAnnotations.count(it.key())) next[it.key()] = it.value();
      cur = next;
    }
    return cur;
  }

  // allOf semantics by merging: properties merged (a shared property gets an
  // allOf of both), required united, other keywords must agree.
  Result<json> merge(json a, const json& b0, const std::string& path, int depth) {
    if (depth > 16) return err(path, "'allOf' nested too deep");
    QS_ASSIGN_OR_RETURN(json b, deref(b0, path));
    if (b.is_boolean()) {
      if (b.get<bool>()) return a;
      return json(false);
    }
    if (a.is_boolean()) return a.get<bool>() ? b : a;
    if (b.contains("allOf")) {
      json inner = b["allOf"];
      b.erase("allOf");
      QS_ASSIGN_OR_RETURN(a, merge(a, b, path, depth + 1));
      for (const json& x : inner) {
        QS_ASSIGN_OR_RETURN(a, merge(a, x, path, depth + 1));
      }
      return a;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      const std::string& k = it.key();
      if (kAnnotations.count(k)) continue;
      if (!a.contains(k)) {
        a[k] = it.value();
      } else if (k == "properties") {
        for (auto p = it.value().begin(); p != it.value().end(); ++p) {
          if (a[k].contains(p.key()))
            a[k][p.key()] = json{{"allOf", json::array({a[k][p.key()], p.value()})}};
          else
            a[k][p.key()] = p.value();
        }
      } else if (k == "required") {
        std::set<std::string> names;
        for (const json& x : a[k]) names.insert(x.dump());
        for (const json& x : it.value())
          if (!names.count(x.dump())) a[k].push_back(x);
      } else if (a[k] != it.value()) {
        return err(path, "'allOf' branches disagree on '" + k + "' (unsupported)");
      }
    }
    return a;
  }

  Result<uint32_t> all_of(const json& s, const std::string& path, int depth) {
    const json& branches = s["allOf"];
    if (!branches.is_array() || branches.empty())
      return err(path, "'allOf' must be a non-empty array");
    json rest = s;
    rest.erase("allOf");
    // A closed object in one branch rejects the other branches' properties.
    for (const json& b0 : branches) {
      QS_ASSIGN_OR_RETURN(json b, deref(b0, path));
      if (b.is_object() && b.contains("additionalProperties") &&
          b["additionalProperties"] == json(false) && branches.size() > 1)
        return err(path, "'allOf' with 'additionalProperties': false in a branch is unsupported");
    }
    json merged = rest;
    for (const json& b : branches) {
      QS_ASSIGN_OR_RETURN(merged, merge(merged, b, path + "/allOf", 0));
    }
    return value(merged, path, depth + 1);
  }

  // Type bits and literal values a schema can produce (for oneOf).
  void signature(const json& s0, unsigned* types, std::vector<json>* values, bool* has_values) {
    auto d = deref(s0, "");
    const json s = d.ok() ? d.value() : s0;
    *has_values = false;
    auto type_of = [](const json& v) -> unsigned {
      if (v.is_null()) return kNull;
      if (v.is_boolean()) return kBool;
      if (v.is_number_integer() ||
          (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
        return kInt;
      if (v.is_number()) return kFrac;
      if (v.is_string()) return kStr;
      if (v.is_array()) return kArr;
      return kObj;
    };
    if (s.is_object() && (s.contains("const") || s.contains("enum"))) {
      *has_values = true;
      if (s.contains("const")) values->push_back(s["const"]);
      if (s.contains("enum") && s["enum"].is_array())
        for (const json& v : s["enum"]) values->push_back(v);
      *types = 0;
      for (const json& v : *values) *types |= type_of(v);
      return;
    }
    std::vector<std::string> ts;
    if (s.is_object() && s.contains("type")) {
      if (s["type"].is_string()) ts.push_back(s["type"].get<std::string>());
      if (s["type"].is_array())
        for (const json& t : s["type"])
          if (t.is_string()) ts.push_back(t.get<std::string>());
    } else if (s.is_object()) {
      ts = infer_types(s);
    }
    if (ts.empty() || !s.is_object() || s.contains("anyOf") || s.contains("oneOf") ||
        s.contains("allOf")) {
      *types = 0x7f;
      return;
    }
    *types = 0;
    for (const std::string& t : ts)
      *types |= t == "null"      ? kNull
                : t == "boolean" ? kBool
                : t == "integer" ? kInt
                : t == "number"  ? (kInt | kFrac)
                : t == "string"  ? kStr
                : t == "array"   ? kArr
                                 : kObj;
  }

  // A required property whose const/enum values tell the branches apart.
  bool discriminated(const std::vector<json>& branches) {
    std::vector<json> objs;
    for (const json& b0 : branches) {
      auto d = deref(b0, "");
      if (!d.ok() || !d.value().is_object() || !d.value().contains("properties")) return false;
      objs.push_back(d.value());
    }
    for (auto p = objs[0]["properties"].begin(); p != objs[0]["properties"].end(); ++p) {
      std::set<std::string> seen;
      bool ok = true;
      for (const json& o : objs) {
        bool req = o.contains("required") && o["required"].is_array() &&
                   std::find(o["required"].begin(), o["required"].end(), json(p.key())) !=
                       o["required"].end();
        if (!req || !o["properties"].contains(p.key())) {
          ok = false;
          break;
        }
        unsigned t;
        std::vector<json> vals;
        bool has;
        signature(o["properties"][p.key()], &t, &vals, &has);
        if (!has) {
          ok = false;
          break;
        }
        for (const json& v : vals)
          if (!seen.insert(v.dump()).second) ok = false;
      }
      if (ok) return true;
    }
    return false;
  }

  Result<uint32_t> any_of(const json& s, const std::string& path, int depth) {
    bool one = s.contains("oneOf");
    if (s.contains("oneOf") && s.contains("anyOf"))
      return err(path, "'anyOf' together with 'oneOf' is unsupported");
    const char* key = one ? "oneOf" : "anyOf";
    const json& branches = s[key];
    if (!branches.is_array() || branches.empty())
      return err(path, std::string("'") + key + "' must be a non-empty array");
    json rest = s;
    rest.erase(key);
    bool has_rest = false;
    for (auto it = rest.begin(); it != rest.end(); ++it)
      if (!kAnnotations.count(it.key())) has_rest = true;
    std::vector<json> bs;
    for (const json& b : branches) {
      if (!has_rest) {
        bs.push_back(b);
        continue;
      }
      QS_ASSIGN_OR_RETURN(json m, merge(rest, b, path + "/" + key, 0));
      bs.push_back(m);
    }
    if (one && bs.size() > 1) {
      // Every output must match exactly one branch: require disjoint branches.
      std::vector<unsigned> types(bs.size());
      std::vector<std::vector<json>> vals(bs.size());
      std::vector<bool> has(bs.size());
      bool disjoint = true;
      for (size_t i = 0; i < bs.size(); ++i) {
        bool h;
        signature(bs[i], &types[i], &vals[i], &h);
        has[i] = h;
      }
      for (size_t i = 0; i < bs.size() && disjoint; ++i)
        for (size_t k = i + 1; k < bs.size() && disjoint; ++k) {
          if (!(types[i] & types[k])) continue;
          if (has[i] && has[k]) {
            for (const json& a : vals[i])
              for (const json& c : vals[k])
                if (a == c) disjoint = false;
            continue;
          }
          disjoint = false;
        }
      if (!disjoint && !discriminated(bs))
        return err(path,
                   "'oneOf' branches may overlap (only branches of different types, "
                   "distinct const/enum values or a required const discriminator "
                   "property are supported; use anyOf)");
    }
    std::vector<Seq> alts;
    for (size_t i = 0; i < bs.size(); ++i) {
      QS_ASSIGN_OR_RETURN(uint32_t r,
                          value(bs[i], path + "/" + key + "/" + std::to_string(i), depth + 1));
      alts.push_back({R::ref(r)});
    }
    return b_.rule_of(key, alts);
  }

  static bool type_ok(const json& v, const std::string& t) {
    if (t == "null") return v.is_null();
    if (t == "boolean") return v.is_boolean();
    if (t == "integer")
      return v.is_number_integer() ||
             (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    if (t == "number") return v.is_number();
    if (t == "string") return v.is_string();
    if (t == "array") return v.is_array();
    if (t == "object") return v.is_object();
    return false;
  }

  Result<uint32_t> literal_alts(const json& s, const std::vector<json>& values,
                                const std::string& path) {
    std::vector<Seq> alts;
    for (const json& v : values) {
      bool ok = true;
      if (s.contains("type")) {
        ok = false;
        const json& t = s["type"];
        if (t.is_string()) ok = type_ok(v, t.get<std::string>());
        if (t.is_array())
          for (const json& x : t)
            if (x.is_string() && type_ok(v, x.get<std::string>())) ok = true;
      }
      if (ok) alts.push_back(b_.literal(v.dump()));
    }
    if (alts.empty()) return err(path, "'enum'/'const' leaves no value (empty or wrong type)");
    return b_.rule_of("enum", alts);
  }

  Result<std::optional<int64_t>> count(const json& s, const char* k, const std::string& path) {
    if (!s.contains(k)) return std::optional<int64_t>();
    const json& v = s[k];
    if (!v.is_number_integer() &&
        !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
      return err(path, std::string("'") + k + "' must be a non-negative integer");
    int64_t n = v.get<int64_t>();
    if (n < 0) return err(path, std::string("'") + k + "' must be a non-negative integer");
    if (n > kMaxCount) return err(path, std::string("'") + k + "' above 1000 is unsupported");
    return std::optional<int64_t>(n);
  }

  Result<uint32_t> typed(const json& s, const std::string& t, const std::string& path, int depth) {
    if (t == "null") return j_.literal("null");
    if (t == "boolean") return b_.rule_of("boolean", {b_.literal("true"), b_.literal("false")});
    if (t == "integer" || t == "number") return numeric(s, t == "integer", path);
    if (t == "string") return string(s, path);
    if (t == "array") return array(s, path, depth);
    if (t == "object") return object(s, path, depth);
    return err(path, "unknown type '" + t + "'");
  }

  Result<uint32_t> numeric(const json& s, bool integer, const std::string& path) {
    std::optional<int64_t> lo, hi;
    constexpr double kLimit = 1e15;
    auto bound = [&](const char* k, bool upper, bool exclusive) -> Status {
      const json& v = s[k];
      if (!v.is_number()) return err(path, std::string("'") + k + "' must be a number");
      double x = v.get<double>();
      if (std::fabs(x) > kLimit) return Status::Ok();  // beyond what we generate anyway
      int64_t b;
      if (upper)
        b = static_cast<int64_t>(exclusive ? std::ceil(x) - 1 : std::floor(x));
      else
        b = static_cast<int64_t>(exclusive ? std::floor(x) + 1 : std::ceil(x));
      if (upper)
        hi = hi ? std::min(*hi, b) : b;
      else
        lo = lo ? std::max(*lo, b) : b;
      return Status::Ok();
    };
    bool ex_min_bool = s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_boolean();
    bool ex_max_bool = s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_boolean();
    if (s.contains("minimum"))
      QS_RETURN_IF_ERROR(bound("minimum", false, ex_min_bool && s["exclusiveMinimum"].get<bool>()));
    if (s.contains("maximum"))
      QS_RETURN_IF_ERROR(bound("maximum", true, ex_max_bool && s["exclusiveMaximum"].get<bool>()));
    if (s.contains("exclusiveMinimum") && !ex_min_bool)
      QS_RETURN_IF_ERROR(bound("exclusiveMinimum", false, true));
    if (s.contains("exclusiveMaximum") && !ex_max_bool)
      QS_RETURN_IF_ERROR(bound("exclusiveMaximum", true, true));
    auto r = integer ? j_.integer(lo, hi) : j_.number(lo, hi);
    if (!r.ok()) return err(path, r.status().message());
    return r;
  }

  Result<uint32_t> string(const json& s, const std::string& path) {
    QS_ASSIGN_OR_RETURN(auto mn, count(s, "minLength", path));
    QS_ASSIGN_OR_RETURN(auto mx, count(s, "maxLength", path));
    if (mn && mx && *mn > *mx) return err(path, "'minLength' > 'maxLength': no string fits");
    std::string pattern;
    if (s.contains("format")) {
      if (!s["format"].is_string()) return err(path, "'format' must be a string");
      std::string f = s["format"].get<std::string>();
      if (!kFormats.count(f)) return err(path, "unsupported 'format' '" + f + "'");
      static const std::map<std::string, std::string> kPatterns = {
          {"date",
           "^[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-"
           "(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))$"},
          {"time",
           "^(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:[01]"
           "[0-9]|2[0-3]):[0-5][0-9])$"},
          {"date-time",
           "^[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|"
           "[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5]"
           "[0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"},
          {"email",
           "^[A-Za-z0-9_+-]+(?:\\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
           "(?:\\.[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)*\\.[A-Za-z]{2,10}$"},
          {"uuid", "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"},
      };
      pattern = kPatterns.at(f);
      if (s.contains("pattern"))
        return err(path, "'pattern' together with 'format' is unsupported");
    }
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) return err(path, "'pattern' must be a string");
      pattern = s["pattern"].get<std::string>();
    }
    if (!pattern.empty()) {
      if (mn || mx)
        return err(path, "'minLength'/'maxLength' together with 'pattern'/'format' is unsupported");
      auto body = compile_pattern(j_, pattern);
      if (!body.ok()) return err(path, body.status().message());
      return j_.quoted(body.value(), "pattern-string");
    }
    return j_.string(mn ? static_cast<int>(*mn) : 0, mx ? static_cast<int>(*mx) : -1);
  }

  Result<uint32_t> array(const json& s, const std::string& path, int depth) {
    QS_ASSIGN_OR_RETURN(auto mn0, count(s, "minItems", path));
    QS_ASSIGN_OR_RETURN(auto mx0, count(s, "maxItems", path));
    int64_t mn = mn0 ? *mn0 : 0, mx = mx0 ? *mx0 : -1;
    if (mx >= 0 && mn > mx) return err(path, "'minItems' > 'maxItems': no array fits");
    uint32_t w = j_.ws();
    std::vector<uint32_t> prefix;
    if (s.contains("prefixItems")) {
      if (!s["prefixItems"].is_array()) return err(path, "'prefixItems' must be an array");
      for (size_t i = 0; i < s["prefixItems"].size(); ++i) {
        if (mx >= 0 && static_cast<int64_t>(i) >= mx) break;
        QS_ASSIGN_OR_RETURN(
            uint32_t r,
            value(s["prefixItems"][i], path + "/prefixItems/" + std::to_string(i), depth + 1));
        prefix.push_back(r);
      }
    }
    std::optional<uint32_t> item;
    if (!s.contains("items") || s["items"] != json(false)) {
      if (s.contains("items") && s["items"].is_array())
        return err(path, "'items' as an array is unsupported (use prefixItems)");
      QS_ASSIGN_OR_RETURN(uint32_t r, s.contains("items")
                                          ? value(s["items"], path + "/items", depth + 1)
                                          : Result<uint32_t>(j_.any_value()));
      item = r;
    }
    const int64_t k = static_cast<int64_t>(prefix.size());
    auto elem = [&](uint32_t r) { return Seq{R::ref(w), R::ref(r), R::ref(w)}; };
    uint32_t tail;  // after k elements
    if (item) {
      Seq more = {b_.byte(',')};
      Seq e = elem(*item);
      more.insert(more.end(), e.begin(), e.end());
      tail = b_.repeat(more, static_cast<int>(std::max<int64_t>(mn - k, 0)),
                       mx < 0 ? -1 : static_cast<int>(std::max<int64_t>(mx - k, 0)), "items");
    } else {
      if (mn > k) return err(path, "'minItems' exceeds the items allowed ('items': false)");
      tail = b_.rule_of("no-items", {{}});
    }
    uint32_t start;
    if (k == 0) {
      std::vector<Seq> alts;
      if (item && mx != 0) {
        Seq first = elem(*item);
        // first item, then items{mn-1, mx-1}
        Seq more = {b_.byte(',')};
        more.insert(more.end(), first.begin(), first.end());
        uint32_t after = b_.repeat(more, static_cast<int>(std::max<int64_t>(mn - 1, 0)),
                                   mx < 0 ? -1 : static_cast<int>(mx - 1), "items");
        first.push_back(R::ref(after));
        alts.push_back(first);
      }
      if (mn == 0) alts.push_back({});
      start = b_.rule_of("array-items", alts);
    } else {
      uint32_t next = tail;
      for (int64_t j = k - 1; j >= 1; --j) {
        Seq more = {b_.byte(',')};
        Seq e = elem(prefix[j]);
        more.insert(more.end(), e.begin(), e.end());
        more.push_back(R::ref(next));
        std::vector<Seq> alts = {more};
        if (j >= mn) alts.push_back({});
        next = b_.rule_of("prefix-rest", alts);
      }
      Seq first = elem(prefix[0]);
      first.push_back(R::ref(next));
      std::vector<Seq> alts = {first};
      if (mn == 0) alts.push_back({});
      start = b_.rule_of("prefix", alts);
    }
    return b_.rule_of("array", {{b_.byte('['), R::ref(start), R::ref(w), b_.byte(']')}});
  }

  Result<uint32_t> object(const json& s, const std::string& path, int depth) {
    uint32_t w = j_.ws();
    std::vector<std::string> names;
    std::vector<json> schemas;
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) return err(path, "'required' must be an array");
      for (const json& x : s["required"]) {
        if (!x.is_string()) return err(path, "'required' entries must be strings");
        required.insert(x.get<std::string>());
      }
    }
    if (s.contains("properties")) {
      if (!s["properties"].is_object()) return err(path, "'properties' must be an object");
      for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
        names.push_back(it.key());
        schemas.push_back(it.value());
      }
    }
    for (const std::string& r : required)
      if (std::find(names.begin(), names.end(), r) == names.end()) {
        names.push_back(r);
        schemas.push_back(json::object());
      }
    std::optional<uint32_t> extra;  // value rule of additional properties
    bool any_extra = false;
    if (s.contains("additionalProperties")) {
      const json& a = s["additionalProperties"];
      if (a.is_object()) {
        QS_ASSIGN_OR_RETURN(uint32_t r, value(a, path + "/additionalProperties", depth + 1));
        extra = r;
      } else if (!a.is_boolean()) {
        return err(path, "'additionalProperties' must be a boolean or a schema");
      } else {
        any_extra = a.get<bool>();
      }
    } else {
      any_extra = true;
    }
    // Open objects with declared properties: we write only the declared ones
    // (a valid subset). Without any declared property: any members.
    if (names.empty() && any_extra) return j_.any_object();
    std::vector<uint32_t> vals;
    for (size_t i = 0; i < names.size(); ++i) {
      QS_ASSIGN_OR_RETURN(uint32_t r,
                          value(schemas[i], path + "/properties/" + names[i], depth + 1));
      vals.push_back(r);
    }
    auto kv = [&](size_t i) {
      Seq s2 = {R::ref(w)};
      Seq key = b_.literal(json_quote(names[i]));
      s2.insert(s2.end(), key.begin(), key.end());
      Seq rest = {R::ref(w), b_.byte(':'), R::ref(w), R::ref(vals[i]), R::ref(w)};
      s2.insert(s2.end(), rest.begin(), rest.end());
      return s2;
    };
    const size_t n = names.size();
    uint32_t extras_after = b_.rule_of("no-extra", {{}});
    Seq extra_kv;
    if (extra) {
      uint32_t key = j_.string_except(names);
      extra_kv = {R::ref(w), R::ref(key),    R::ref(w), b_.byte(':'),
                  R::ref(w), R::ref(*extra), R::ref(w)};
      Seq more = {b_.byte(',')};
      more.insert(more.end(), extra_kv.begin(), extra_kv.end());
      extras_after = b_.repeat(more, 0, -1, "extra");
    }
    std::vector<uint32_t> after(n + 1), first(n + 1);
    after[n] = extras_after;
    std::vector<Seq> first_n = {{}};
    if (extra) {
      Seq f = extra_kv;
      f.push_back(R::ref(extras_after));
      first_n.push_back(f);
    }
    first[n] = b_.rule_of("first-end", first_n);
    for (size_t i = n; i-- > 0;) {
      bool req = required.count(names[i]) > 0;
      Seq a = {b_.byte(',')};
      Seq k = kv(i);
      a.insert(a.end(), k.begin(), k.end());
      a.push_back(R::ref(after[i + 1]));
      std::vector<Seq> aa = {a};
      if (!req) aa.push_back({R::ref(after[i + 1])});
      after[i] = b_.rule_of("after-" + names[i], aa);
      Seq f = k;
      f.push_back(R::ref(after[i + 1]));
      std::vector<Seq> fa = {f};
      if (!req) fa.push_back({R::ref(first[i + 1])});
      first[i] = b_.rule_of("first-" + names[i], fa);
    }
    return b_.rule_of("object", {{b_.byte('{'), R::ref(first[0]), R::ref(w), b_.byte('}')}});
  }

  const json& root_;
  JsonRules& j_;
  GrammarBuilder& b_;
  std::map<std::string, uint32_t> refs_;
};

}  // namespace

Result<uint32_t> schema_rule(const nlohmann::json& schema, JsonRules& json) {
  Compiler c(schema, json);
  return c.value(schema, "", 0);
}

}  // namespace qs::grammar
