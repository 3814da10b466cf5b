// libFuzzer target for the safetensors header parser: any bytes must give
// either a valid file whose views lie inside the input, or an error; never a
// crash or an out-of-bounds read (built with -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = qs::SafetensorsFile::FromMemory(data, size, "fuzz.safetensors");
  if (!r.ok()) {
    if (r.status().message().empty()) std::abort();
    return 0;
  }
  size_t covered = 0;
  for (const qs::TensorView& t : r.value()->tensors()) {
    if (t.nbytes != static_cast<size_t>(t.numel()) * qs::dtype_size(t.dtype)) std::abort();
    if (t.nbytes > 0 && (t.data < data || t.data + t.nbytes > data + size)) std::abort();
    if (r.value()->find(t.name) != &t) std::abort();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < t.nbytes; ++i) sink = sink ^ t.data[i];  // touch every byte
    covered += t.nbytes;
  }
  if (covered > size) std::abort();
  return 0;
}
