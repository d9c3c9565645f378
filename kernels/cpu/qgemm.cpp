// Quantized matmul entry points: CPU feature dispatch and the thread pool's split over output
// features.
#include "kernels/include/qgemm.h"

#include <algorithm>
#include <cassert>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/qgemm_avx2.h"
#include "kernels/include/thread_pool.h"
#include "kernels/include/ggml_blocks.h"

namespace xq {
namespace {

bool HasAvx2() { return DetectedCpuFeatures().avx2; }

// Below this many block products a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = 4096;
// Output features per work item: their weight rows stay in L1 while all row tiles stream by.
constexpr int64_t kOutChunk = 16;

}  // namespace

size_t QWeightBlockBytes(QWeightType type) {
  switch (type) {
    case QWeightType::kQ4_0:
      return sizeof(BlockQ4_0);
    case QWeightType::kQ4_1:
      return sizeof(BlockQ4_1);
    case QWeightType::kQ8_0:
      return sizeof(BlockQ8_0);
  }
  return 0;
}

size_t QActivationBlockBytes(QWeightType type) {
  return type == QWeightType::kQ4_1 ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
}

size_t QuantizedActivationBytes(QWeightType type, int64_t rows, int64_t in) {
  return static_cast<size_t>(rows * (in / kGgmlBlock)) * QActivationBlockBytes(type);
}

void QuantizeActivations(QWeightType type, const float* x, int64_t rows, int64_t in, void* xq) {
  assert(in % kGgmlBlock == 0);
  if (!HasAvx2()) {
    QuantizeActivationsPaths().Count(KernelPath::kReference);
    return QuantizeActivationsReference(type, x, rows, in, xq);
  }
  QuantizeActivationsPaths().Count(KernelPath::kAvx2);
  const bool q8_1 = type == QWeightType::kQ4_1;
  const int64_t nb = in / kGgmlBlock;
  const size_t row_bytes = nb * QActivationBlockBytes(type);
  ComputePool().ParallelFor(
      rows, Schedule::kStatic,
      [&](int64_t r) {
        qgemm_avx2::QuantizeBlocks(q8_1, x + r * in, nb,
                                   static_cast<uint8_t*>(xq) + r * row_bytes);
      },
      rows * nb >= kMinParallelWork);
}

void QGemm(const QGemmParams& p) {
  assert(p.in % kGgmlBlock == 0);
  if (p.rows <= 0 || p.out <= 0) return;
  if (!HasAvx2()) {
    QGemmPaths().Count(KernelPath::kReference);
    return QGemmReference(p);
  }
  QGemmPaths().Count(KernelPath::kAvx2);
  const bool q8_1 = p.type == QWeightType::kQ4_1;
  const int64_t nb = p.in / kGgmlBlock;
  // Converted once per call: every output feature reuses the activation scales.
  constexpr int kTile = qgemm_avx2::kMaxTileRows;
  const int64_t stride = (p.rows + kTile - 1) / kTile * kTile;
  thread_local std::vector<float> d, s;
  d.resize(nb * stride);
  s.resize(q8_1 ? nb * stride : 0);
  qgemm_avx2::ConvertScales(q8_1, p.xq, p.rows, nb, stride, d.data(), s.data());
  const qgemm_avx2::ActScales scales{d.data(), q8_1 ? s.data() : nullptr, stride};

  const int64_t out_chunks = (p.out + kOutChunk - 1) / kOutChunk;
  const int64_t row_tiles = (p.rows + kTile - 1) / kTile;
  ComputePool().ParallelFor(
      out_chunks * row_tiles, Schedule::kStatic,
      [&](int64_t item) {
        const int64_t o0 = item / row_tiles * kOutChunk;
        const int64_t r0 = item % row_tiles * kTile;
        qgemm_avx2::Tile(p, scales, o0, std::min(p.out, o0 + kOutChunk), r0,
                         static_cast<int>(std::min<int64_t>(kTile, p.rows - r0)));
      },
      p.out * p.rows * nb >= kMinParallelWork);
}

}  // namespace xq
