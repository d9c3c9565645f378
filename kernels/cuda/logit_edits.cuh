// Sampling parameters applied on the device: each listed logits row gets its sequence's sparse
// LogitEdits (kernels/include/logit_edit.h), one kind after another as the CPU sampler applies
// them, so the row is bitwise the one the CPU would have sampled from.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/logit_edit.h"

namespace xq::cuda {

// grid = listed rows, any block size. Within a kind a token appears once (masks may repeat,
// writing the same -inf), so the threads of one kind never race; kinds are separated by barriers.
//   logits: [*, vocab]; rows: [n] the logits row of entry b; edit_indptr: [n + 1] into edits
__global__ void LogitEditsKernel(float* logits, int64_t vocab, const int64_t* rows,
                                 const int64_t* edit_indptr, const LogitEdit* edits) {
  float* row = logits + rows[blockIdx.x] * vocab;
  const int64_t begin = edit_indptr[blockIdx.x], end = edit_indptr[blockIdx.x + 1];
  for (int32_t kind = 0; kind < kLogitEditKinds; ++kind) {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const LogitEdit e = edits[i];
      if (static_cast<int32_t>(e.kind) == kind && e.token >= 0 && e.token < vocab) {
        row[e.token] = ApplyLogitEdit(row[e.token], e);
      }
    }
    __syncthreads();
  }
}

}  // namespace xq::cuda
