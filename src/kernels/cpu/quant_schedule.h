// How the quantized matmuls of every ISA table split W's row groups over the
// pool. ISA-neutral (compiled without -mavx*): the tables pass their own
// per-range work as `run`.
#pragma once

#include <cstddef>
#include <functional>

#include "core/thread_pool.h"

namespace qs::kernels::cpu {

// Runs run(g0, g1) over row groups [0, groups) of a packed matrix whose
// groups are `group_bytes` each, for an x of m rows. m <= 4 (GEMV-like):
// guided (long W streams first, two groups last). Otherwise dynamic chunks of
// ~128 KB of W (4-group chunks of INT4 were ~30 KB and capped 2-thread
// decode). Either way a thread that is slowed down never holds up the step.
void schedule_row_groups(ThreadPool& pool, size_t groups, size_t m, size_t group_bytes,
                         const std::function<void(size_t, size_t)>& run);

}  // namespace qs::kernels::cpu
