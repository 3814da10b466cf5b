#include "kernels/cpu/quant_schedule.h"

#include <algorithm>

namespace qs::kernels::cpu {

void schedule_row_groups(ThreadPool& pool, size_t groups, size_t m, size_t group_bytes,
                         const std::function<void(size_t, size_t)>& run) {
  if (m <= 4) {
    pool.parallel_guided(groups, 2, run);
    return;
  }
  const size_t chunk =
      std::max<size_t>(2, ((size_t{128} << 10) / std::max<size_t>(group_bytes, 1)) & ~size_t{1});
  pool.parallel_chunks(groups, chunk, run);
}

}  // namespace qs::kernels::cpu
