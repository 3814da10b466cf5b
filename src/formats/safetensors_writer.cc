#include "formats/safetensors_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace qs {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// numel * dtype_size, or an error on negative dims or overflow.
Status expected_bytes(const TensorToWrite& t, size_t* out) {
  size_t n = dtype_size(t.dtype);
  for (int64_t d : t.shape) {
    if (d < 0) return Status::Error("negative dimension in shape " + shape_str(t.shape));
    if (d != 0 && n > std::numeric_limits<size_t>::max() / static_cast<size_t>(d))
      return Status::Error("shape " + shape_str(t.shape) + " overflows");
    n *= static_cast<size_t>(d);
  }
  *out = n;
  return Status::Ok();
}

Status write_all(std::FILE* f, const void* p, size_t n) {
  if (n == 0) return Status::Ok();
  if (std::fwrite(p, 1, n, f) != n)
    return Status::Error(std::string("write failed: ") + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  // Sorted by name: the data section follows this order.
  std::vector<const TensorToWrite*> order;
  order.reserve(tensors.size());
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header["__metadata__"] = std::move(md);
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorToWrite& t = *order[i];
    const std::string where = path + ": tensor '" + t.name + "'";
    if (t.name.empty()) return Status::Error(path + ": empty tensor name");
    if (t.name == "__metadata__") return Status::Error(where + ": reserved name");
    if (i > 0 && order[i - 1]->name == t.name) return Status::Error(where + ": duplicate name");
    size_t want = 0;
    QS_RETURN_IF_ERROR(expected_bytes(t, &want).With(where));
    if (want != t.nbytes)
      return Status::Error(where + ": nbytes " + std::to_string(t.nbytes) + " does not match " +
                           std::string(dtype_name(t.dtype)) + " shape " + shape_str(t.shape) +
                           " (" + std::to_string(want) + " bytes)");
    if (t.nbytes > 0 && t.data == nullptr) return Status::Error(where + ": null data");
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = std::string(dtype_name(t.dtype));
    e["shape"] = t.shape;
    e["data_offsets"] = {offset, offset + t.nbytes};
    header[t.name] = std::move(e);
    offset += t.nbytes;
  }

  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a name or metadata
    return Status::Error(path + ": cannot encode header: " + e.what());
  }
  json.append((8 - json.size() % 8) % 8, ' ');
  uint8_t len_le[8];
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) len_le[i] = static_cast<uint8_t>(n >> (8 * i));

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::Error(tmp + ": cannot create: " + std::strerror(errno));
  Status st = write_all(f, len_le, 8);
  if (st.ok()) st = write_all(f, json.data(), json.size());
  for (size_t i = 0; st.ok() && i < order.size(); ++i)
    st = write_all(f, order[i]->data, order[i]->nbytes);
  if (std::fclose(f) != 0 && st.ok())
    st = Status::Error(std::string("close failed: ") + std::strerror(errno));
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0)
    st = Status::Error(std::string("rename failed: ") + std::strerror(errno));
  if (!st.ok()) {
    std::remove(tmp.c_str());
    return st.With(path);
  }
  return Status::Ok();
}

}  // namespace qs
