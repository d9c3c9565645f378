// CudaGraph: a recorded sequence of kernel launches on a stream (cudaStreamBeginCapture ..
// cudaGraphInstantiate), launched again with one call. A decode step of a 30-layer model is
// some 600 launches; replayed as a graph the host pays for one, and the GPU runs them back to
// back. Everything a launch reads by value (grid sizes, counts, pointers) is frozen at capture:
// only the memory it points to may change between launches.
#pragma once

#include <functional>

#include "kernels/cuda/cuda_runtime.h"

namespace xq {

class CudaGraph {
 public:
  // Records what `enqueue` puts on `stream` (nothing runs). Throws xq::Error, with the stream
  // left out of capture mode, when `enqueue` throws or the runtime refuses the capture.
  CudaGraph(cudaStream_t stream, const std::function<void()>& enqueue);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void Launch(cudaStream_t stream);

 private:
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace xq
