// The one place that looks at the CPU: picks the best table once, honours
// QS_KERNELS=ref|avx2|avx512.
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "kernels/cpu/isa_tables.h"
#include "kernels/kernels.h"

namespace qs::kernels {

namespace cpu {

bool cpu_has_avx512() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512bf16") &&
                         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  return ok;
#else
  return false;
#endif
}

bool cpu_has_avx2() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  return ok;
#else
  return false;
#endif
}

}  // namespace cpu

const KernelTable* const* available(size_t* count) {
  static const KernelTable* tables[3];
  static const size_t n = [] {
    size_t c = 0;
    tables[c++] = &ref();
    if (cpu::cpu_has_avx2()) tables[c++] = &cpu::avx2_table();
    if (cpu::cpu_has_avx512()) tables[c++] = &cpu::avx512_table();
    return c;
  }();
  *count = n;
  return tables;
}

const KernelTable& get() {
  static const KernelTable* chosen = [] {
    size_t n = 0;
    const KernelTable* const* all = available(&n);
    const KernelTable* best = all[n - 1];
    const char* want = std::getenv("QS_KERNELS");
    if (want && *want) {
      for (size_t i = 0; i < n; ++i) {
        if (std::strcmp(all[i]->name, want) == 0) return all[i];
      }
      QS_LOG(Warn, "QS_KERNELS=" << want << " is not supported on this CPU; using " << best->name);
    }
    return best;
  }();
  return *chosen;
}

}  // namespace qs::kernels
