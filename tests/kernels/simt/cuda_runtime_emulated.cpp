#include "tests/kernels/simt/cuda_runtime_emulated.h"

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "tests/kernels/simt/simt.h"

// A captured graph and its instantiation: the recorded work, in order.
struct CUgraph_st {
  std::vector<std::function<void()>> work;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> work;
};

namespace xq::simt {
namespace {

std::mutex mu;
std::map<const char*, size_t> allocations;  // start -> bytes
size_t in_use = 0;

bool InsideAllocation(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  std::lock_guard lock(mu);
  auto it = allocations.upper_bound(c);
  if (it == allocations.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}

// Whether a pointer of a copy is on the side its kind says (bytes > 0).
bool SideMatches(const void* p, size_t bytes, bool device) {
  return InsideAllocation(p, bytes) == device;
}

}  // namespace

size_t DeviceBytesInUse() {
  std::lock_guard lock(mu);
  return in_use;
}

bool IsDeviceRange(const void* p, size_t bytes) { return InsideAllocation(p, bytes); }

}  // namespace xq::simt

using xq::simt::SideMatches;

// Allocation and synchronization fail while a stream is captured, as a real capture rejects
// them; copies too: our graphs hold kernels only (a captured host pointer would be read at
// every launch).

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidValue; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  std::memset(prop, 0, sizeof(*prop));
  std::strcpy(prop->name, "SIMT emulation");
  prop->totalGlobalMem = size_t{1} << 32;
  prop->major = 9;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = size_t{1} << 32;
  *free_bytes = *total_bytes - xq::simt::DeviceBytesInUse();
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  // Fresh device memory is garbage on a GPU: 0xCD here, so a kernel reading unwritten bytes
  // shows up in comparisons.
  char* p = static_cast<char*>(std::malloc(bytes ? bytes : 1));
  if (!p) return cudaErrorMemoryAllocation;
  std::memset(p, 0xCD, bytes);
  std::lock_guard lock(xq::simt::mu);
  xq::simt::allocations[p] = bytes;
  xq::simt::in_use += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  if (!ptr) return cudaSuccess;
  std::lock_guard lock(xq::simt::mu);
  auto it = xq::simt::allocations.find(static_cast<const char*>(ptr));
  if (it == xq::simt::allocations.end()) return cudaErrorInvalidValue;
  xq::simt::in_use -= it->second;
  xq::simt::allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  *ptr = std::malloc(bytes ? bytes : 1);
  return *ptr ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  if (bytes == 0) return cudaSuccess;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (!SideMatches(dst, bytes, dst_device) || !SideMatches(src, bytes, src_device)) {
    return cudaErrorInvalidValue;
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  if (bytes == 0) return cudaSuccess;
  if (!SideMatches(ptr, bytes, true)) return cudaErrorInvalidValue;
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  static char token;
  *stream = reinterpret_cast<cudaStream_t>(&token);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  return cudaStreamCreate(stream);
}

cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() { return cudaSuccess; }

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
  if (xq::simt::Capturing()) return cudaErrorInvalidValue;
  xq::simt::BeginCapture();
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* graph) {
  if (!xq::simt::Capturing()) return cudaErrorInvalidValue;
  *graph = new CUgraph_st{xq::simt::EndCapture()};
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!graph) return cudaErrorInvalidValue;
  *exec = new CUgraphExec_st{graph->work};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
  if (xq::simt::Capturing()) return cudaErrorStreamCaptureUnsupported;
  if (!exec) return cudaErrorInvalidValue;
  for (const auto& work : exec->work) work();
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
  }
  return "unknown error";
}
