#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/gemm.h"

namespace xq::cuda {
namespace {

void Check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cuBLAS ") + what + ": " + cublasGetStatusString(status));
  }
}

// cuBLAS's recommendation for Hopper. Our own, set once: a GEMM captured into a CUDA graph then
// uses this buffer at every launch instead of workspace cuBLAS allocates during the capture.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

}  // namespace

Gemm::Gemm(cudaStream_t stream) : stream_(stream) {
  cublasHandle_t handle = nullptr;
  Check(cublasCreate(&handle), "create");
  handle_ = handle;
  try {
    Check(cublasSetStream(handle, stream_), "set stream");  // resets the workspace: set after
    if (cudaMalloc(&workspace_, kWorkspaceBytes) != cudaSuccess) {
      cudaGetLastError();
      throw std::runtime_error("cuBLAS: cannot allocate its workspace");
    }
    Check(cublasSetWorkspace(handle, workspace_, kWorkspaceBytes), "set workspace");
  } catch (...) {
    cublasDestroy(handle);
    cudaFree(workspace_);
    throw;
  }
}

Gemm::~Gemm() {
  cublasDestroy(static_cast<cublasHandle_t>(handle_));
  cudaFree(workspace_);
}

// cuBLAS is column-major: a row-major [r, c] matrix is its column-major [c, r] transpose. So
// y^T[out, rows] = w[out, in] * x^T[in, rows]: A = w read as column-major [in, out] and
// transposed, B = x read as column-major [in, rows].
void Gemm::Run(const uint16_t* x, const uint16_t* w, float* y, int64_t rows, int64_t out,
               int64_t in, bool accumulate, int64_t y_stride) {
  if (rows <= 0 || out <= 0) return;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const int ldy = static_cast<int>(y_stride > 0 ? y_stride : out);
  Check(cublasGemmEx(static_cast<cublasHandle_t>(handle_), CUBLAS_OP_T, CUBLAS_OP_N,
                     static_cast<int>(out), static_cast<int>(rows), static_cast<int>(in), &alpha, w,
                     CUDA_R_16F, static_cast<int>(in), x, CUDA_R_16F, static_cast<int>(in), &beta,
                     y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "GemmEx");
}

}  // namespace xq::cuda
