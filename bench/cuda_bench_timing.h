// What the GPU benchmarks share: failing loudly on a CUDA error, and timing a step with events.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace xq::bench {

inline void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Milliseconds per call of `step` (work on the default stream), averaged over `repeats` calls
// after one warm-up call.
template <typename Step>
double TimeMs(Step step, int repeats) {
  cudaEvent_t start, stop;
  Check(cudaEventCreate(&start), "event");
  Check(cudaEventCreate(&stop), "event");
  step();
  Check(cudaEventRecord(start), "record");
  for (int i = 0; i < repeats; ++i) step();
  Check(cudaEventRecord(stop), "record");
  Check(cudaEventSynchronize(stop), "sync");
  float ms = 0.0f;
  Check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
  Check(cudaGetLastError(), "launch");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / repeats;
}

}  // namespace xq::bench
