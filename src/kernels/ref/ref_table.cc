#include "kernels/kernels.h"
#include "kernels/ref/quant_ops.h"
#include "kernels/ref/ref_ops.h"

namespace qs::kernels {

const KernelTable& ref() {
  static const KernelTable table = [] {
    KernelTable t{};
    t.name = "ref";
    t.matmul_bf16 = ref_ops::matmul_bf16;
    t.matmul_bf16_lowp = ref_ops::matmul_bf16_lowp;
    t.matmul_q8_0 = ref_ops::matmul_q8_0;
    t.matmul_q4 = ref_ops::matmul_q4;
    t.matmul_q5 = ref_ops::matmul_q5;
    t.rmsnorm = ref_ops::rmsnorm;
    t.rope = ref_ops::rope;
    t.silu_mul = ref_ops::silu_mul;
    t.add = ref_ops::add;
    t.embedding_bf16 = ref_ops::embedding_bf16;
    t.attention = ref_ops::attention;
    t.attention_lowp = ref_ops::attention_lowp;
    t.kv_store = ref_ops::kv_store;
    return t;
  }();
  return table;
}

}  // namespace qs::kernels
