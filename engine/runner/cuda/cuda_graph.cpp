#include "engine/runner/cuda/cuda_graph.h"

#include "engine/runner/cuda/cuda_check.h"

namespace xq {

CudaGraph::CudaGraph(cudaStream_t stream, const std::function<void()>& enqueue) {
  // Thread-local: another thread's CUDA calls (a second runner) neither join nor break it.
  CheckCuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
            "starting a graph capture");
  cudaGraph_t graph = nullptr;
  try {
    enqueue();
  } catch (...) {
    if (cudaStreamEndCapture(stream, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
    cudaGetLastError();  // the failed capture's error is the exception's, not the next call's
    throw;
  }
  CheckCuda(cudaStreamEndCapture(stream, &graph), "ending a graph capture");
  const cudaError_t made = cudaGraphInstantiate(&exec_, graph, 0);
  cudaGraphDestroy(graph);  // the instantiation is self-contained
  CheckCuda(made, "instantiating a graph");
}

CudaGraph::~CudaGraph() {
  if (exec_) cudaGraphExecDestroy(exec_);
}

void CudaGraph::Launch(cudaStream_t stream) {
  CheckCuda(cudaGraphLaunch(exec_, stream), "launching a graph");
}

}  // namespace xq
