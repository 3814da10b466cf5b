// Machine probes for the benchmarks: what this CPU can do at best, so that
// `qwenserve bench` and bench/kernels_bench can report fractions of it.
#pragma once

#include "core/thread_pool.h"

namespace qs::kernels {

// DRAM read bandwidth in GB/s (1e9 bytes/s): all pool threads sum-reduce their
// part of a 1 GiB buffer; best of a few repetitions. pool may be nullptr.
double measure_read_bandwidth_gbs(ThreadPool* pool);

// Peak of vdpbf16ps in registers over all pool threads, GFLOP/s, counting 2
// flops per bf16 pair (64 per zmm instruction). 0 if the CPU lacks AVX512-BF16.
double measure_bf16_dot_peak_gflops(ThreadPool* pool);

// Peak of vpdpbusd (u8 x s8 -> s32) in registers over all pool threads,
// GOP/s, counting 2 ops per product (128 per zmm instruction): the ceiling of
// the quantized matmuls (int8 activations). 0 without AVX-512 VNNI.
double measure_int8_dot_peak_gops(ThreadPool* pool);

// Peak f32 FMA throughput (2 flops per lane), with the widest vectors this CPU has.
double measure_f32_fma_peak_gflops(ThreadPool* pool);

}  // namespace qs::kernels
