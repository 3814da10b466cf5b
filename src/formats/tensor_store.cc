// TensorStore: one model directory, single file or sharded with an index.
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"

namespace qs {

namespace {

bool is_file(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

// A shard name from the index must stay inside the model directory.
bool plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\\') == std::string::npos && s.find('\0') == std::string::npos;
}

}  // namespace

Result<std::unique_ptr<TensorStore>> TensorStore::OpenDir(const std::string& dir) {
  std::unique_ptr<TensorStore> store(new TensorStore());
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";

  if (!is_file(index_path)) {
    if (!is_file(single_path))
      return Status::Error(dir + ": no model.safetensors or model.safetensors.index.json");
    QS_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(single_path));
    for (const TensorView& t : f->tensors()) store->by_name_.emplace(t.name, &t);
    store->shards_.push_back(std::move(f));
    return store;
  }

  QS_ASSIGN_OR_RETURN(std::string text, read_text_file(index_path));
  nlohmann::json index = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded()) return Status::Error(index_path + ": not valid JSON");
  if (!index.is_object()) return Status::Error(index_path + ": not a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object())
    return Status::Error(index_path + ": missing 'weight_map' object");

  // tensor name -> shard file name, and the set of shard files.
  std::map<std::string, std::string> want;
  std::set<std::string> shard_names;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string())
      return Status::Error(index_path + ": weight_map entry for tensor '" + it.key() +
                           "' is not a string");
    const std::string& shard = it->get_ref<const std::string&>();
    if (!plain_file_name(shard))
      return Status::Error(index_path + ": tensor '" + it.key() + "': shard name '" + shard +
                           "' is not a plain file name in the model directory");
    want[it.key()] = shard;
    shard_names.insert(shard);
  }

  std::map<std::string, const SafetensorsFile*> by_shard;
  for (const std::string& s : shard_names) {
    auto f = SafetensorsFile::Open(dir + "/" + s);
    if (!f.ok()) return f.status().With(index_path + ": shard '" + s + "'");
    by_shard[s] = f.value().get();
    store->shards_.push_back(std::move(f).value());
  }
  for (const auto& shard : store->shards_) {
    for (const TensorView& t : shard->tensors()) {
      auto [pos, inserted] = store->by_name_.emplace(t.name, &t);
      if (!inserted)
        return Status::Error(index_path + ": tensor '" + t.name +
                             "' is in two shards: " + *pos->second->file + " and " + shard->path());
    }
  }
  for (const auto& shard : store->shards_) {
    for (const TensorView& t : shard->tensors()) {
      auto w = want.find(t.name);
      if (w == want.end())
        return Status::Error(shard->path() + ": tensor '" + t.name +
                             "' is not listed in the weight_map of " + index_path);
      if (by_shard[w->second] != shard.get())
        return Status::Error(index_path + ": tensor '" + t.name + "' is mapped to shard '" +
                             w->second + "' but is in " + shard->path());
    }
  }
  for (const auto& [name, shard] : want)
    if (store->by_name_.find(name) == store->by_name_.end())
      return Status::Error(index_path + ": tensor '" + name + "' is listed for shard '" + shard +
                           "' but missing from " + dir + "/" + shard);
  return store;
}

const TensorView* TensorStore::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& kv : by_name_) out.push_back(kv.first);
  return out;
}

}  // namespace qs
