// Writes a .safetensors file: 8-byte little-endian header length N, N bytes of
// JSON header (space-padded to a multiple of 8, as the Python library does),
// then the tensors' bytes back to back, sorted by name, with no holes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace qs {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // nbytes bytes, little-endian elements; may be null if nbytes == 0
  size_t nbytes = 0;           // must equal numel(shape) * dtype_size(dtype)
};

// Errors (as a Status naming the path and tensor): duplicate or empty names,
// negative dims, nbytes not matching the shape, a null data pointer, I/O failure.
// The file is written to "<path>.tmp" and renamed, so a failed write leaves no
// partial file at `path`.
Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace qs
