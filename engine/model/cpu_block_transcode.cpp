#include "engine/model/cpu_block_transcode.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "engine/common/error.h"
#include "engine/model/dequantize.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/include/thread_pool.h"
#include "kernels/reference/half.h"

namespace xq {
namespace {

// Q5_0: d(f16) qh[4] qs[16], value d*(q - 16): the same d with codes q - 16, exactly.
void Q5_0ToQ8_0(const uint8_t* b, BlockQ8_0* out) {
  uint32_t qh;
  std::memcpy(&qh, b + 2, sizeof(qh));
  const uint8_t* qs = b + 6;
  std::memcpy(&out->d, b, sizeof(out->d));
  for (int j = 0; j < kGgmlBlock / 2; ++j) {
    const int lo = (qs[j] & 0xf) | (((qh >> j) & 1) << 4);
    const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    out->qs[j] = static_cast<int8_t>(lo - 16);
    out->qs[j + kGgmlBlock / 2] = static_cast<int8_t>(hi - 16);
  }
}

// 32 values as Q8_0, rounded against the scale as stored (fp16), not the unrounded one as
// ggml's quantize_row_q8_0 does: the smaller error for values that are already quantized. A
// group with a NaN or infinity (a malformed file's scale) becomes a NaN scale over zero codes,
// so it stays visibly non-finite, as the fp32 path would leave it.
void RequantizeQ8_0(const float* x, BlockQ8_0* out) {
  float amax = 0.0f;
  bool finite = true;
  for (int j = 0; j < kGgmlBlock; ++j) {
    finite = finite && std::isfinite(x[j]);
    amax = std::max(amax, std::fabs(x[j]));
  }
  out->d = FloatToHalf(finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN());
  const float d = HalfToFloat(out->d);
  for (int j = 0; j < kGgmlBlock; ++j) {
    const float q = finite && d != 0.0f ? std::nearbyint(x[j] / d) : 0.0f;
    out->qs[j] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
  }
}

void TranscodeRow(GgmlType type, const uint8_t* src, int64_t cols, uint8_t* dst,
                  std::vector<float>& values) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  const int64_t blocks = cols / info->block_elems;
  switch (type) {
    case GgmlType::kQ5_0:
      for (int64_t i = 0; i < blocks; ++i) {
        Q5_0ToQ8_0(src + i * info->block_bytes, reinterpret_cast<BlockQ8_0*>(dst) + i);
      }
      return;
    default:  // Q5_1, Q5_K: through their exact values
      values.resize(static_cast<size_t>(cols));
      DequantizeRow(type, src, values.data(), cols);
      for (int64_t g = 0; g < cols / kGgmlBlock; ++g) {
        RequantizeQ8_0(values.data() + g * kGgmlBlock, reinterpret_cast<BlockQ8_0*>(dst) + g);
      }
  }
}

}  // namespace

GgmlType CpuBlockTypeFor(GgmlType type) {
  switch (type) {
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ5_K:
      return GgmlType::kQ8_0;
    default:
      return type;
  }
}

std::vector<uint8_t> TranscodeBlocksForCpu(GgmlType type, const uint8_t* src, int64_t rows,
                                           int64_t cols) {
  const GgmlType target = CpuBlockTypeFor(type);
  if (target == type)
    throw Error("TranscodeBlocksForCpu: " + GgmlTypeName(uint32_t(type)) + " needs no transcoding");
  const GgmlTypeInfo* from = FindGgmlType(static_cast<uint32_t>(type));
  const GgmlTypeInfo* to = FindGgmlType(static_cast<uint32_t>(target));
  if (cols % from->block_elems != 0) {
    throw Error("TranscodeBlocksForCpu: rows of " + std::to_string(cols) +
                " values are not whole " + GgmlTypeName(uint32_t(type)) + " blocks");
  }
  const int64_t src_row = cols / from->block_elems * from->block_bytes;
  const int64_t dst_row = cols / to->block_elems * to->block_bytes;
  std::vector<uint8_t> out(static_cast<size_t>(rows * dst_row));
  ComputePool().ParallelFor(rows, Schedule::kStatic, [&](int64_t r) {
    thread_local std::vector<float> values;
    TranscodeRow(type, src + r * src_row, cols, out.data() + r * dst_row, values);
  });
  return out;
}

bool TranscodeForCpu(Tensor& t) {
  if (!t.quantized() || t.packed || CpuBlockTypeFor(t.block_type) == t.block_type) return false;
  t.blocks = TranscodeBlocksForCpu(t.block_type, t.blocks.data(), t.rows(), t.cols());
  t.block_type = CpuBlockTypeFor(t.block_type);
  return true;
}

void TranscodeModelForCpu(Model& model) {
  std::map<std::string, int> conversions;  // "Q5_K -> Q8_0": matrices
  size_t before = 0, after = 0;
  ForEachMatrix(model.weights, [&](Tensor& t) {
    const GgmlType from = t.block_type;
    const size_t bytes = t.blocks.size();
    if (!TranscodeForCpu(t)) return;
    ++conversions[GgmlTypeName(uint32_t(from)) + " -> " + GgmlTypeName(uint32_t(t.block_type))];
    before += bytes;
    after += t.blocks.size();
  });
  if (conversions.empty()) return;
  std::string what;
  for (const auto& [conversion, n] : conversions) {
    what += (what.empty() ? "" : ", ") + conversion + " x" + std::to_string(n);
  }
  spdlog::info("weights: transcoded for the CPU matmul kernels: {} ({:.1f} -> {:.1f} MiB)", what,
               before / 1048576.0, after / 1048576.0);
}

}  // namespace xq
