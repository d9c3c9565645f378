// Matrices kept in GGML blocks on the GPU (kernels/cuda/qgemv, qgemm_mma, dequantize_weights:
// Q4_0, Q8_0, and Q4_K and Q6_K, what Q4_K_M files hold) against the same matrix as fp16 for
// cuBLAS, at Llama-3-8B's projection shapes and 1 to 1024 rows of activations: the GEMV (up to 8
// rows), the tensor-core GEMM (its inputs split over as many CUDA blocks as cuda::QMmaSplits
// picks, and unsplit, to check that choice), and dequantizing the whole matrix into fp16 then one
// cuBLAS GEMM (what the runner does past 256 rows). Prints one JSON line per case: microseconds per
// call of each, and the quantized kernels' weight bytes read per second. The runner's thresholds
// (kQGemvMaxRows, kQMmaMaxRows) come from these ratios. Needs a GPU (tests/gpu/run_all.sh runs it).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/cuda_bench_timing.h"
#include "engine/model/ggml_types.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"

namespace xq {
namespace {

constexpr int kRepeats = 20;

using bench::Check;

template <typename T>
T* Alloc(size_t count, int fill) {
  void* p = nullptr;
  Check(cudaMalloc(&p, count * sizeof(T)), "cudaMalloc");
  // 0x3C bytes: fp16 scales and activations of 1.06, any quants: finite sums.
  Check(cudaMemset(p, fill, count * sizeof(T)), "fill");
  return static_cast<T*>(p);
}

template <typename Step>
double TimeUs(Step step) {
  return bench::TimeMs(step, kRepeats) * 1e3;
}

void Run(GgmlType type, const char* name, int64_t out, int64_t in, cuda::Gemm& gemm) {
  const GgmlTypeInfo& info = *FindGgmlType(static_cast<uint32_t>(type));
  const auto weight_bytes = static_cast<size_t>(out * (in / info.block_elems) * info.block_bytes);
  auto* w = Alloc<uint8_t>(weight_bytes, 0x3C);
  auto* w16 = Alloc<uint16_t>(static_cast<size_t>(out * in), 0x3C);
  constexpr int64_t kMaxRows = 1024;
  auto* x = Alloc<uint16_t>(static_cast<size_t>(kMaxRows * in), 0x3C);
  auto* y = Alloc<float>(static_cast<size_t>(kMaxRows * out), 0);
  int64_t partial_floats = 1;
  for (int64_t rows = 1; rows <= kMaxRows; ++rows) {
    partial_floats = std::max(partial_floats, cuda::QMmaPartialFloats(rows, out, in));
  }
  auto* partials = Alloc<float>(static_cast<size_t>(partial_floats), 0);
  for (int64_t rows : {1, 4, 8, 16, 32, 64, 128, 256, 512, 1024}) {
    const double fp16 = TimeUs([&] { gemm.Run(x, w16, y, rows, out, in, false); });
    const double dequant = TimeUs([&] {
      cuda::LaunchDequantizeToHalf(type, w, out, in, w16, nullptr);
      gemm.Run(x, w16, y, rows, out, in, false);
    });
    const double mma = TimeUs([&] {
      cuda::LaunchQMmaGemm(type, w, out, in, x, rows, y, false, nullptr, partials, partial_floats);
    });
    const double mma_unsplit =
        TimeUs([&] { cuda::LaunchQMmaGemm(type, w, out, in, x, rows, y, false, nullptr); });
    double gemv = -1;
    if (rows <= cuda::kQGemvMaxRows) {
      gemv = TimeUs([&] { cuda::LaunchQGemv(type, w, out, in, x, rows, y, false, nullptr); });
    }
    const double best_quantized = gemv > 0 && gemv < mma ? gemv : mma;
    std::printf(
        "{\"type\": \"%s\", \"out\": %ld, \"in\": %ld, \"rows\": %ld, \"us_fp16_cublas\": %.1f, "
        "\"us_dequantize_cublas\": %.1f, \"us_tensor_core\": %.1f, \"tensor_core_splits\": %d, "
        "\"us_tensor_core_unsplit\": %.1f, \"us_gemv\": %.1f, "
        "\"quantized_weight_gb_per_s\": %.1f, \"fp16_over_best_quantized\": %.3f}\n",
        name, static_cast<long>(out), static_cast<long>(in), static_cast<long>(rows), fp16, dequant,
        mma, cuda::QMmaSplits(rows, out, in), mma_unsplit, gemv,
        weight_bytes / best_quantized / 1e3, fp16 / best_quantized);
    std::fflush(stdout);
  }
  cudaFree(w);
  cudaFree(w16);
  cudaFree(x);
  cudaFree(y);
  cudaFree(partials);
}

}  // namespace
}  // namespace xq

int main() {
  try {
    xq::cuda::Gemm gemm(nullptr);
    // Llama-3-8B: q/o projections, k/v, and the MLP's up and down.
    for (const auto& [out, in] :
         {std::pair<int64_t, int64_t>{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}}) {
      for (xq::GgmlType type :
           {xq::GgmlType::kQ4_0, xq::GgmlType::kQ8_0, xq::GgmlType::kQ4_K, xq::GgmlType::kQ6_K}) {
        xq::Run(type, xq::GgmlTypeName(static_cast<uint32_t>(type)).c_str(), out, in, gemm);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_qgemm_bench: %s\n", e.what());
    return 1;
  }
}
