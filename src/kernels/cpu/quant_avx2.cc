// AVX2 quantized matmuls: not vectorised yet, the scalar reference (which
// computes the same bits every table must).
#include "kernels/cpu/isa_tables.h"
#include "kernels/ref/quant_ops.h"

namespace qs::kernels::cpu {

void avx2_quant_matmuls(KernelTable* t) {
  t->matmul_q8_0 = ref_ops::matmul_q8_0;
  t->matmul_q4 = ref_ops::matmul_q4;
}

}  // namespace qs::kernels::cpu
