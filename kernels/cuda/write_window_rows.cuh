// The step's new keys and values into their fp16 window pages (XqWriteWindowRows on the
// device): one CUDA block per token row, threads over the row's H * D elements, each value
// rounded to fp16 as the CPU does.
#pragma once

#include <cstdint>

#include "kernels/cuda/batch_rows.cuh"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/xquant_batch.h"

namespace xq::cuda {

// grid = the step's rows (kv.qo_indptr[kv.num_seqs]), block = any number of threads.
//   k, v: [rows, H * D]
__global__ void WriteWindowRowsKernel(XqBatchKv kv, int64_t layer, const float* k, const float* v) {
  const KvBlockLayout& L = *kv.layout;
  const int64_t row = blockIdx.x, width = L.num_kv_heads * L.head_dim;
  int64_t s = 0, pos = 0;  // the row's sequence and position
  RowPosition(kv, row, &s, &pos);
  const XqWindowView w{kv.window_pages + kv.window_indptr[s], kv.window_start[s] / L.block_tokens};
  for (int is_value = 0; is_value < 2; ++is_value) {
    int64_t run = 0;
    const int64_t offset = WindowRowOffset(L, w, layer, is_value, pos, &run);
    uint8_t* dst = kv.arena + offset;
    const float* src = (is_value ? v : k) + row * width;
    for (int64_t e = threadIdx.x; e < width; e += blockDim.x) {
      const uint16_t bits = FloatToHalfBits(src[e]);
      memcpy(dst + 2 * e, &bits, 2);
    }
  }
}

}  // namespace xq::cuda
