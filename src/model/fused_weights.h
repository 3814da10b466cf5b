// Matrices that read the same input, joined into one matrix by rows: q|k|v
// (all read rmsnorm(x)) and gate|up. One matmul call instead of three (two)
// means one dispatch to the thread pool and one rounding/quantization of x
// per layer; on the 0.5B shape that is 72 fewer pool hand-offs per decoded
// token. Every output row is computed exactly as before (rows never mix), so
// logits are bitwise unchanged.
#pragma once

#include <initializer_list>

#include "kernels/kernels.h"
#include "model/qwen2_weights.h"

namespace qs {

// The parts' rows in order as one matrix, or a matrix with data == nullptr
// when they cannot be joined for free:
//   kBF16: only when the parts already lie back to back in memory (Hugging
//     Face checkpoints store gate_proj right before up_proj) -- a BF16
//     checkpoint is never copied for this;
//   kQ8_0 / kQ4 / kQ5 (owned packed buffers): their row groups are self-contained,
//     so the packed bytes are concatenated into one owned buffer when every
//     part but the last has a whole number of row groups; the parts are
//     re-pointed into it and their old buffers released.
// All parts must share format, cols and group.
kernels::WeightMatrix fuse_rows(std::initializer_list<kernels::WeightMatrix*> parts,
                                Qwen2Weights* w);

// The parts' biases (F32, `lens` each; nullptr reads as zeros) back to back
// in an owned array; nullptr when every part is nullptr.
const float* fuse_biases(std::initializer_list<const float*> parts,
                         std::initializer_list<size_t> lens, Qwen2Weights* w);

// The layer's q|k|v (and their biases) joined into qkv_proj / qkv_bias where
// fuse_rows can; qkv_proj stays unset otherwise. qd = query width, kvd =
// key/value width.
void join_qkv(Qwen2LayerWeights* layer, size_t qd, size_t kvd, Qwen2Weights* w);

}  // namespace qs
