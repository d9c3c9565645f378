#include "engine/model/cpu_kernel_weights.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "engine/common/error.h"

namespace xq {

QWeightType QWeightTypeOf(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
      return QWeightType::kQ4_0;
    case GgmlType::kQ4_1:
      return QWeightType::kQ4_1;
    case GgmlType::kQ8_0:
      return QWeightType::kQ8_0;
    case GgmlType::kQ4_K:
      return QWeightType::kQ4_K;
    case GgmlType::kQ6_K:
      return QWeightType::kQ6_K;
    default:
      throw Error("no quantized matmul kernel for " + GgmlTypeName(uint32_t(type)));
  }
}

namespace {

// Returns the bytes packed (0 when the tensor is fp32 or packed already).
size_t Pack(Tensor& t) {
  if (!t.quantized() || t.packed) return 0;
  const QWeightType type = QWeightTypeOf(t.block_type);
  std::vector<uint8_t> packed(PackedQWeightBytes(type, t.rows(), t.cols()));
  PackQWeights(type, t.blocks.data(), t.rows(), t.cols(), packed.data());
  t.blocks.swap(packed);
  t.packed = true;
  return t.blocks.size();
}

}  // namespace

void PackForCpuKernels(Model& model) {
  if (!CanPackQWeights()) return;
  size_t bytes = 0;
  int matrices = 0;
  ForEachMatrix(model.weights, [&](Tensor& t) {
    const size_t b = Pack(t);
    bytes += b;
    matrices += b > 0;
  });
  if (matrices > 0) {
    spdlog::info("weights: {} quantized matrices packed for the CPU matmul kernels ({:.1f} MiB)",
                 matrices, bytes / 1048576.0);
  }
}

}  // namespace xq
