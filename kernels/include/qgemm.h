// Quantized matmul y = x * W^T over GGML blocks: activations are quantized to 8 bits per 32-block
// exactly as llama.cpp's CPU backend does for Q4_0/Q4_1/Q8_0 (Q8_1 for Q4_1 and Q4_K weights,
// Q8_0 otherwise); each 32-block's product is an exact integer dot, scaled and summed in fp32 in
// block order (the min terms of Q4_1 and Q4_K from the activation block's fp16 sum, as ggml's
// Q4_1). For Q4_0/Q4_1/Q8_0 the sums differ from ggml's vec_dot only in float summation order.
// K-quant weights (Q4_K, Q6_K) are read in their own blocks; their activations use 32-blocks
// where ggml's use 256 (Q8_K), so ours are finer. A row's result never depends on the other rows
// of the batch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xq {

enum class QWeightType { kQ4_0, kQ4_1, kQ8_0, kQ4_K, kQ6_K };

// Values and bytes of one weight block (32 values; 256 for the K-quants, whose rows must be
// multiples of 256 long), bytes of one weight row, and bytes of one 32-value activation block.
int QWeightBlockValues(QWeightType type);
size_t QWeightBlockBytes(QWeightType type);
size_t QWeightRowBytes(QWeightType type, int64_t in);
size_t QActivationBlockBytes(QWeightType type);

// Bytes QuantizeActivations writes for a [rows, in] activation matrix; in must be a multiple of 32.
size_t QuantizedActivationBytes(QWeightType type, int64_t rows, int64_t in);

// x: [rows, in] fp32 -> xq: [rows, in / 32] BlockQ8_1 (for kQ4_1) or BlockQ8_0 blocks.
void QuantizeActivations(QWeightType type, const float* x, int64_t rows, int64_t in, void* xq);
void QuantizeActivationsReference(QWeightType type, const float* x, int64_t rows, int64_t in,
                                  void* xq);

struct QGemmParams {
  QWeightType type = QWeightType::kQ4_1;
  const void* w = nullptr;   // [out, in / QWeightBlockValues] weight blocks of `type`
  int64_t out = 0;           // output features (weight rows)
  int64_t in = 0;            // input features, a multiple of QWeightBlockValues
  const void* xq = nullptr;  // [rows, in / 32] activation blocks from QuantizeActivations
  int64_t rows = 0;          // activation rows (tokens)
  float* y = nullptr;        // [rows, out]
  bool accumulate = false;   // y += x * W^T instead of y = x * W^T
  bool packed = false;       // w holds PackQWeights' layout rather than GGML blocks
};

// Weights rearranged once for the SIMD kernels (interleaved groups of 16 output features, the
// same content as the GGML blocks plus zero rows up to a multiple of 16): QGemm then skips the
// per-call packing. Packing needs AVX2 (CanPackQWeights); the result is the same either way.
bool CanPackQWeights();
size_t PackedQWeightBytes(QWeightType type, int64_t out, int64_t in);
void PackQWeights(QWeightType type, const void* w, int64_t out, int64_t in, void* packed);
// Row `row` of packed weights as its original GGML blocks, byte for byte.
void UnpackQWeightRow(QWeightType type, const void* packed, int64_t in, int64_t row,
                      void* blocks);

// SIMD (AVX2 + FMA + F16C when the CPU has them), parallel over groups of output features and
// blocks of rows on the compute pool (ComputePool); inside another region it runs on the calling
// thread. Bit-identical to QGemmReference.
void QGemm(const QGemmParams& p);
// Scalar truth, single-threaded.
void QGemmReference(const QGemmParams& p);

}  // namespace xq
