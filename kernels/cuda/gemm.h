// The one thin wrapper over cuBLAS: row-major GEMMs on the device,
//   y[rows, out] (+)= x[rows, in] * w[out, in]^T,
// fp16 x and w, fp32 y, fp32 accumulation. Under the SIMT emulation a scalar loop with the same
// contract stands in (tests/kernels/simt/cublas_gemm_emulated.cpp).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_runtime.h"

namespace xq::cuda {

class Gemm {
 public:
  explicit Gemm(cudaStream_t stream);  // throws std::runtime_error when cuBLAS cannot start
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  //   x: [rows, in] fp16 bits; w: [out, in] fp16 bits; y: [rows, out] fp32 whose rows are
  //   y_stride floats apart (0: out; more: y is a column slice of a wider matrix)
  void Run(const uint16_t* x, const uint16_t* w, float* y, int64_t rows, int64_t out, int64_t in,
           bool accumulate, int64_t y_stride = 0);

 private:
  cudaStream_t stream_;
  void* handle_ = nullptr;     // cublasHandle_t
  void* workspace_ = nullptr;  // device memory (real cuBLAS only)
};

}  // namespace xq::cuda
