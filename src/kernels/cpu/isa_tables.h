// Internal to kernels/: the per-ISA tables and probes. Only cpu/dispatch.cc
// decides which of them may run on this CPU.
#pragma once

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace qs::kernels::cpu {

const KernelTable& avx512_table();  // needs AVX-512 F/BW/VL/DQ + BF16
const KernelTable& avx2_table();    // needs AVX2 + FMA + F16C

// Pieces of the tables, one file each (cpu/<op>_<isa>.cc).
void avx512_matmuls(KernelTable* t);
void avx512_attention(KernelTable* t);
void avx2_matmuls(KernelTable* t);
void avx2_attention(KernelTable* t);
void avx512_quant_matmuls(KernelTable* t);  // cpu/quant_avx512.cc (needs AVX-512 VNNI)
void avx2_quant_matmuls(KernelTable* t);    // cpu/quant_avx2.cc

bool cpu_has_avx512();
bool cpu_has_avx2();

// Per-thread register-only loops for the probes: returns flops done.
double avx512_bf16_dot_loop(size_t iters);
double avx512_int8_dot_loop(size_t iters);  // vpdpbusd, 2 ops per u8*s8 product
double avx512_fma_loop(size_t iters);
double avx2_fma_loop(size_t iters);
// Sum of n floats (vectorised read); used by the bandwidth probe.
float avx512_sum(const float* p, size_t n);
float avx2_sum(const float* p, size_t n);

}  // namespace qs::kernels::cpu
