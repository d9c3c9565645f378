// Quantized matmul entry points: CPU feature dispatch and the thread pool's split over groups of
// output features and blocks of activation rows.
#include "kernels/include/qgemm.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/qgemm_avx2.h"
#include "kernels/cpu/qgemm_avx512.h"
#include "kernels/cpu/qgemm_isa.h"
#include "kernels/cpu/qgemm_layout.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/include/thread_pool.h"

namespace xq {
namespace {

bool HasAvx2() { return DetectedCpuFeatures().avx2; }
bool HasVnni() { return DetectedCpuFeatures().avx512_vnni; }

// Weights with a min (an offset per block) pair with Q8_1 activations, which carry their sum.
bool HasMin(QWeightType type) { return type == QWeightType::kQ4_1 || type == QWeightType::kQ4_K; }

std::atomic<QGemmIsa> forced_isa{QGemmIsa::kAuto};

// One microkernel family: rows per call, and entry point.
struct GroupKernel {
  int tile_rows;
  void (*tile)(QWeightType, const uint8_t*, const qgemm_avx2::ActTerms&, int64_t, int, float*,
               int64_t, int, bool);
  KernelPath path;
};
constexpr GroupKernel kAvx2Kernel{qgemm_avx2::kTileRows, qgemm_avx2::GroupTile,
                                  KernelPath::kAvx2};
constexpr GroupKernel kVnniKernel{qgemm_avx512::kTileRows, qgemm_avx512::GroupTile,
                                  KernelPath::kAvx512};

// Below this many block products a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = 4096;
// Output features and activation rows per work item: the item's activation rows (up to 64 x in
// bytes) stay in L2 while its groups of output features are packed and used.
constexpr int64_t kItemCols = 32;
constexpr int64_t kItemRows = 64;

}  // namespace

bool ForceQGemmIsa(QGemmIsa isa) {
  const bool ok = isa == QGemmIsa::kAuto || isa == QGemmIsa::kScalar ||
                  (isa == QGemmIsa::kAvx2 && HasAvx2()) ||
                  (isa == QGemmIsa::kAvx512Vnni && HasVnni());
  if (ok) forced_isa.store(isa, std::memory_order_relaxed);
  return ok;
}

QGemmIsa ActiveQGemmIsa() {
  const QGemmIsa isa = forced_isa.load(std::memory_order_relaxed);
  if (isa != QGemmIsa::kAuto) return isa;
  return HasVnni() ? QGemmIsa::kAvx512Vnni : HasAvx2() ? QGemmIsa::kAvx2 : QGemmIsa::kScalar;
}

bool CanPackQWeights() { return HasAvx2(); }

void PackQWeights(QWeightType type, const void* w, int64_t out, int64_t in, void* packed) {
  assert(CanPackQWeights() && in % QWeightBlockValues(type) == 0);
  constexpr int kCols = qgemm_layout::kGroupCols;
  const int64_t nb = in / kGgmlBlock;
  const size_t group_bytes = qgemm_layout::PackedGroupBytes(type, nb);
  ComputePool().ParallelFor((out + kCols - 1) / kCols, Schedule::kStatic, [&](int64_t g) {
    const int ncols = static_cast<int>(std::min<int64_t>(kCols, out - g * kCols));
    qgemm_avx2::PackGroup(type, w, nb, g * kCols, ncols,
                          static_cast<uint8_t*>(packed) + g * group_bytes);
  });
}

int QWeightBlockValues(QWeightType type) {
  return qgemm_layout::IsKQuant(type) ? kGgmlSuperBlock : kGgmlBlock;
}

size_t QWeightBlockBytes(QWeightType type) {
  switch (type) {
    case QWeightType::kQ4_0:
      return sizeof(BlockQ4_0);
    case QWeightType::kQ4_1:
      return sizeof(BlockQ4_1);
    case QWeightType::kQ8_0:
      return sizeof(BlockQ8_0);
    case QWeightType::kQ4_K:
      return sizeof(BlockQ4_K);
    case QWeightType::kQ6_K:
      return sizeof(BlockQ6_K);
  }
  return 0;
}

size_t QWeightRowBytes(QWeightType type, int64_t in) {
  return static_cast<size_t>(in / QWeightBlockValues(type)) * QWeightBlockBytes(type);
}

size_t QActivationBlockBytes(QWeightType type) {
  return HasMin(type) ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
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
  const bool q8_1 = HasMin(type);
  const int64_t nb = in / kGgmlBlock;
  const size_t row_bytes = nb * QActivationBlockBytes(type);
  ComputePool().ParallelFor(
      rows, Schedule::kStatic,
      [&](int64_t r) {
        qgemm_avx2::QuantizeBlocks(q8_1, x + r * in, nb, static_cast<uint8_t*>(xq) + r * row_bytes);
      },
      rows * nb >= kMinParallelWork);
}

void QGemm(const QGemmParams& p) {
  assert(p.in % QWeightBlockValues(p.type) == 0);
  if (p.rows <= 0 || p.out <= 0) return;
  const QGemmIsa isa = ActiveQGemmIsa();
  if (isa == QGemmIsa::kScalar || (p.packed && !CanPackQWeights())) {
    QGemmPaths().Count(KernelPath::kReference);
    return QGemmReference(p);
  }
  const GroupKernel& kernel = isa == QGemmIsa::kAvx512Vnni ? kVnniKernel : kAvx2Kernel;
  QGemmPaths().Count(kernel.path);
  namespace simd = qgemm_avx2;
  const int64_t nb = p.in / kGgmlBlock;
  // Per-row activation scales and code sums, once per call: every output feature reuses them.
  thread_local std::vector<float> d, s;
  thread_local std::vector<int32_t> corr;
  thread_local std::vector<uint8_t> shifted;
  d.resize(p.rows * nb);
  s.resize(HasMin(p.type) ? p.rows * nb : 0);
  corr.resize(p.type == QWeightType::kQ4_0   ? p.rows * nb
              : p.type == QWeightType::kQ6_K ? 2 * p.rows * nb
                                             : 0);
  simd::ComputeActTerms(p.type, p.xq, 0, p.rows, nb, d.data(), s.data(), corr.data());
  const bool shift = p.type == QWeightType::kQ8_0 && isa == QGemmIsa::kAvx512Vnni;
  shifted.resize(shift ? p.rows * p.in : 0);
  if (shift) simd::ShiftCodes(p.xq, 0, p.rows, nb, shifted.data());
  const size_t a_block = QActivationBlockBytes(p.type);
  // An activation block's 32 codes are its last bytes.
  const simd::ActTerms act{static_cast<const uint8_t*>(p.xq) + a_block - kGgmlBlock,
                           a_block,
                           nb * a_block,
                           nb,
                           d.data(),
                           s.data(),
                           corr.data(),
                           shifted.data()};

  // A work item: a few groups of output features x up to kItemRows rows. Unless the weights are
  // packed already, each group is packed once into this thread's buffer (L1 or L2 sized) and then
  // serves all the item's row tiles.
  constexpr int cols = qgemm_layout::kGroupCols;
  const int64_t item_groups = kItemCols / cols;
  const int64_t groups = (p.out + cols - 1) / cols;
  const int64_t col_items = (groups + item_groups - 1) / item_groups;
  const int64_t row_items = (p.rows + kItemRows - 1) / kItemRows;
  const size_t group_bytes = qgemm_layout::PackedGroupBytes(p.type, nb);
  ComputePool().ParallelFor(
      col_items * row_items, Schedule::kStatic,
      [&](int64_t item) {
        thread_local std::vector<uint8_t> buffer;
        if (!p.packed) buffer.resize(group_bytes);
        const int64_t g1 = std::min(groups, (item / row_items + 1) * item_groups);
        const int64_t r0 = item % row_items * kItemRows, r1 = std::min(p.rows, r0 + kItemRows);
        for (int64_t g = item / row_items * item_groups; g < g1; ++g) {
          const int64_t o0 = g * cols;
          const int ncols = static_cast<int>(std::min<int64_t>(cols, p.out - o0));
          const uint8_t* group = static_cast<const uint8_t*>(p.w) + g * group_bytes;
          if (!p.packed) {
            simd::PackGroup(p.type, p.w, nb, o0, ncols, buffer.data());
            group = buffer.data();
          }
          for (int64_t r = r0; r < r1; r += kernel.tile_rows) {
            const int nr = static_cast<int>(std::min<int64_t>(kernel.tile_rows, r1 - r));
            kernel.tile(p.type, group, act, r, nr, p.y + o0, p.out, ncols, p.accumulate);
          }
        }
      },
      p.out * p.rows * nb >= kMinParallelWork);
}

}  // namespace xq
