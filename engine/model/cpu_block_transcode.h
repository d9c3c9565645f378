// GGML block types the CPU's quantized matmul lacks (Q5_0, Q5_1, Q5_K), rewritten at load as a
// type it has (Q8_0), so such a model takes about its file size in RAM on the CPU instead of
// becoming fp32 (6-8x that). Q4_K and Q6_K (most of a Q4_K_M file) need none of this: the
// matmul reads them in their own blocks. What each rewrite keeps:
// - Q5_0 -> Q8_0: exact (same d, codes q - 16).
// - Q5_1, Q5_K -> Q8_0: the exact values of each 32-value group requantized to 8 bits with
//   the fp16 scale amax / 127: an error of at most half that step (about amax / 254), against a
//   5-bit step in the file. Groups with amax under 127 * 2^-14 (about 0.008) get a
//   subnormal fp16 scale, coarse relative to itself, and the largest values
//   may clip at 127 codes: their error is half the step or 127 * 2^-25 (about 4e-6), whichever is
//   larger.
// The CUDA runner multiplies all of these in their own blocks and needs none of this.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/ggml_types.h"
#include "engine/model/model_weights.h"

namespace xq {

// The type the CPU kernels multiply `type` as: itself for the types they take (and for types
// that are not blocks).
GgmlType CpuBlockTypeFor(GgmlType type);

// rows x cols values of `type` blocks (row-major, cols a whole number of blocks) as
// CpuBlockTypeFor(type) blocks; parallel over rows.
std::vector<uint8_t> TranscodeBlocksForCpu(GgmlType type, const uint8_t* src, int64_t rows,
                                           int64_t cols);

// A matrix in GGML blocks rewritten in place as CpuBlockTypeFor its type; returns whether it
// changed. Packed or fp32 tensors are left alone.
bool TranscodeForCpu(Tensor& t);

// Every matrix of the model (ForEachMatrix) through TranscodeForCpu; logs what changed.
void TranscodeModelForCpu(Model& model);

}  // namespace xq
