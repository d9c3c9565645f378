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

}  // namespace

Gemm::Gemm(cudaStream_t stream) : stream_(stream) {
  cublasHandle_t handle = nullptr;
  Check(cublasCreate(&handle), "create");
  handle_ = handle;
  Check(cublasSetStream(handle, stream_), "set stream");
}

Gemm::~Gemm() { cublasDestroy(static_cast<cublasHandle_t>(handle_)); }

// cuBLAS is column-major: a row-major [r, c] matrix is its column-major [c, r] transpose. So
// y^T[out, rows] = w[out, in] * x^T[in, rows]: A = w read as column-major [in, out] and
// transposed, B = x read as column-major [in, rows].
void Gemm::Run(const uint16_t* x, const uint16_t* w, float* y, int64_t rows, int64_t out,
               int64_t in, bool accumulate) {
  if (rows <= 0 || out <= 0) return;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  Check(cublasGemmEx(static_cast<cublasHandle_t>(handle_), CUBLAS_OP_T, CUBLAS_OP_N,
                     static_cast<int>(out), static_cast<int>(rows), static_cast<int>(in), &alpha, w,
                     CUDA_R_16F, static_cast<int>(in), x, CUDA_R_16F, static_cast<int>(in), &beta,
                     y, CUDA_R_32F, static_cast<int>(out), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "GemmEx");
}

}  // namespace xq::cuda
