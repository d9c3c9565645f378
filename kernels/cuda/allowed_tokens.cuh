// A grammar's allowed tokens on the device: each listed row whose RowSampling names a bitmask
// gets -inf at every token the bitmask does not allow (the CPU's TokenConstraint::MaskLogits),
// before its LogitEdits, so a constrained row is sampled where its logits are and only its
// bitmask (vocab / 8 bytes) crosses to the device.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/row_sampling.h"

namespace xq::cuda {

// grid = listed rows, any block size.
//   logits: [*, vocab], entry b's row rows[b]; params: [n]; allowed: the batch's bitmasks
__global__ void AllowedTokensKernel(float* logits, int64_t vocab, const int64_t* rows,
                                    const RowSampling* params, const uint32_t* allowed) {
  const int32_t slot = params[blockIdx.x].allowed_tokens;
  if (slot < 0) return;
  const uint32_t* words = allowed + static_cast<int64_t>(slot) * AllowedTokenWords(vocab);
  float* row = logits + rows[blockIdx.x] * vocab;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    if (!TokenAllowed(words, i)) row[i] = -__builtin_huge_valf();
  }
}

}  // namespace xq::cuda
