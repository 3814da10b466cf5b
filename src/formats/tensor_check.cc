#include "formats/tensor_check.h"

#include <algorithm>
#include <vector>

namespace qs {

Status check_tensor(const TensorView* t, std::string_view name,
                    std::initializer_list<int64_t> shape, std::initializer_list<DType> allowed) {
  if (t == nullptr) return Status::Error("missing tensor '" + std::string(name) + "'");
  const std::string where = (t->file ? *t->file : std::string("?")) + ": tensor '" + t->name + "'";
  std::vector<int64_t> want(shape);
  if (t->shape != want)
    return Status::Error(where + ": shape " + shape_to_string(t->shape) +
                         " does not match config (expected " + shape_to_string(want) + ")");
  if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), t->dtype) == allowed.end()) {
    std::string list;
    for (DType d : allowed) {
      if (!list.empty()) list += ", ";
      list += dtype_name(d);
    }
    return Status::Error(where + ": dtype " + std::string(dtype_name(t->dtype)) +
                         " not supported here (expected " + list + ")");
  }
  return Status::Ok();
}

}  // namespace qs
