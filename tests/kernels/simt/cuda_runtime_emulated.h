// A test-only stand-in for the part of the CUDA runtime API our host code calls, over host
// memory, so the CUDA runner's host logic runs on a CPU in CI (kernels run through the SIMT
// emulation, GEMMs through cublas_gemm_emulated.cpp). "Device" allocations are tracked, and a
// copy whose pointers contradict its direction (a host pointer as the device side, or the
// reverse) fails with cudaErrorInvalidValue: the mistake a GPU would punish with a fault.
// Everything is synchronous; streams are tokens. CUDA graphs: while a stream is captured,
// kernel launches and GEMMs are recorded (simt::Enqueue) and run at each cudaGraphLaunch; a
// copy, memset, allocation, free or synchronization during the capture fails with
// cudaErrorStreamCaptureUnsupported, so host code that would bake a host buffer or an
// allocation into a graph is caught here (the runner's graphs hold kernels only).
#pragma once

#include <cstddef>

struct CUstream_st;
using cudaStream_t = CUstream_st*;

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorNoDevice = 100,
  cudaErrorStreamCaptureUnsupported = 900,
};

enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};

struct CUgraph_st;
struct CUgraphExec_st;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);  // pinned host memory: plain host memory here
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
inline constexpr unsigned cudaStreamNonBlocking = 0x01;
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaGetLastError();
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                 unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
const char* cudaGetErrorString(cudaError_t error);

namespace xq::simt {
// Bytes currently allocated with cudaMalloc (tests check that runners free what they take).
size_t DeviceBytesInUse();
// Whether [p, p + bytes) lies inside one live cudaMalloc allocation.
bool IsDeviceRange(const void* p, size_t bytes);
}  // namespace xq::simt
