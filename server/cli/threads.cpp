#include <cblas.h>
#include <omp.h>

#include <thread>

#include "server/cli/commands.h"

namespace xq::cli {

void SetThreads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

}  // namespace xq::cli
