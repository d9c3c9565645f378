// Which sequence of the batch a step row belongs to, and its position: what every per-row
// kernel asks first. A binary search over qo_indptr, so a 256-sequence decode step costs each
// CUDA block 8 reads rather than up to 256.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/xquant_batch.h"

namespace xq::cuda {

// The row's sequence s (the first with qo_indptr[s + 1] > row) and absolute position.
__device__ __forceinline__ void RowPosition(const XqBatchKv& kv, int64_t row, int64_t* s,
                                            int64_t* pos) {
  int64_t lo = 0, hi = kv.num_seqs - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (kv.qo_indptr[mid + 1] > row) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  const int64_t rows = kv.qo_indptr[lo + 1] - kv.qo_indptr[lo];
  *s = lo;
  *pos = kv.kv_len[lo] - rows + (row - kv.qo_indptr[lo]);
}

}  // namespace xq::cuda
