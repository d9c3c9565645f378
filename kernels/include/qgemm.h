// Quantized matmul y = x * W^T over GGML blocks, with llama.cpp's CPU arithmetic: activations are
// quantized to 8 bits per 32-block (Q8_1 for Q4_1 weights, Q8_0 otherwise) and every output is
// summed in the float order of ggml's x86 AVX2 vec_dot kernels, so logits match llama.cpp's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xq {

enum class QWeightType { kQ4_0, kQ4_1, kQ8_0 };

// Bytes of one weight block / one activation block for this weight type.
size_t QWeightBlockBytes(QWeightType type);
size_t QActivationBlockBytes(QWeightType type);

// Bytes QuantizeActivations writes for a [rows, in] activation matrix; in must be a multiple of 32.
size_t QuantizedActivationBytes(QWeightType type, int64_t rows, int64_t in);

// x: [rows, in] fp32 -> xq: [rows, in / 32] BlockQ8_1 (for kQ4_1) or BlockQ8_0 blocks.
void QuantizeActivations(QWeightType type, const float* x, int64_t rows, int64_t in, void* xq);
void QuantizeActivationsReference(QWeightType type, const float* x, int64_t rows, int64_t in,
                                  void* xq);

struct QGemmParams {
  QWeightType type = QWeightType::kQ4_1;
  const void* w = nullptr;   // [out, in / 32] weight blocks of `type`
  int64_t out = 0;           // output features (weight rows)
  int64_t in = 0;            // input features, a multiple of 32
  const void* xq = nullptr;  // [rows, in / 32] activation blocks from QuantizeActivations
  int64_t rows = 0;          // activation rows (tokens)
  float* y = nullptr;        // [rows, out]
  bool accumulate = false;   // y += x * W^T instead of y = x * W^T
};

// SIMD (AVX2 + FMA + F16C when the CPU has them), parallel over output features on the compute
// pool (ComputePool); inside another region it runs on the calling thread. Bit-identical to
// QGemmReference.
void QGemm(const QGemmParams& p);
// Scalar truth, single-threaded.
void QGemmReference(const QGemmParams& p);

}  // namespace xq
