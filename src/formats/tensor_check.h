// Checks a model weight against the shape and dtypes the config implies, with
// messages that name the file and the tensor.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"
#include "formats/safetensors.h"

namespace qs {

// t == nullptr -> "missing tensor '<name>'". An empty `allowed` accepts any dtype.
// e.g. "model.safetensors: tensor 'q.weight': shape [896, 64] does not match config
// (expected [896, 896])".
Status check_tensor(const TensorView* t, std::string_view name,
                    std::initializer_list<int64_t> shape, std::initializer_list<DType> allowed);

}  // namespace qs
