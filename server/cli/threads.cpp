#include <cblas.h>
#include <omp.h>

#include <spdlog/spdlog.h>

#include "engine/common/cpu_budget.h"
#include "kernels/include/thread_pool.h"
#include "server/cli/commands.h"

namespace xq::cli {

void SetThreads(int threads) {
  if (threads <= 0) {
    // In a container with --cpus (or a Kubernetes CPU limit) all host CPUs are visible but only
    // the quota's worth runs at once.
    const CpuBudget budget = DetectCpuBudget();
    threads = budget.cpus;
    if (budget.quota) {
      spdlog::info("threads: {} (cgroup CPU limit {:.2f} of {} CPUs)", threads, *budget.quota,
                   budget.affinity);
    }
  }
  SetComputeThreads(threads);
  // OpenMP is left only inside OpenBLAS (the fp32 matrices of unquantized models).
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

}  // namespace xq::cli
