// Compile check of the device-safe kernel contract: nvcc must accept every kernels/include
// header and take each params struct by value in a __global__ (nvcc 13 stopped with an internal
// error on _Float16 fields before the contract was made device-safe). It runs nothing; CI builds
// it wherever nvcc is found, GPU or not.
#include <cuda_fp16.h>

#include "kernels/include/device_safe.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/include/logit_edit.h"
#include "kernels/include/qgemm.h"
#include "kernels/include/row_sampling.h"
#include "kernels/include/xquant_batch.h"
#include "kernels/include/xquant_format.h"
#include "kernels/include/xquant_kernels.h"
#include "kernels/include/xquant_rotation.h"

namespace xq {

static_assert(sizeof(Fp16) == sizeof(__half), "Fp16 and __half must be the same two bytes");

// Reads what a kernel reads: the layout through its pointer, the window page addressing and the
// frontier rule on the device, and the fp16 bits as __half.
__global__ void ContractCheck(XqAttentionParams attention, XqBatchAttentionParams batch,
                              XqQuantizeJobs jobs, QGemmParams gemm, RowSampling draw,
                              LogitEdit edit, float* out) {
  const KvBlockLayout& L = *attention.layout;
  const XqWindowView w{attention.window_pages, attention.window_start / L.block_tokens};
  int64_t run = 0;
  const int64_t at = WindowRowOffset(L, w, attention.layer, 1, attention.window_start, &run);
  const Fp16 bits = reinterpret_cast<const Fp16*>(attention.arena + at)[threadIdx.x];
  const __half h = __ushort_as_half(bits.bits);
  out[threadIdx.x] = __half2float(h) + static_cast<float>(run) +
                     static_cast<float>(QuantizedFrontier(batch.kv.kv_len[0], batch.recent_window,
                                                          batch.kv.layout->block_tokens)) +
                     static_cast<float>(jobs.count + gemm.rows) +
                     static_cast<float>(SamplingOrderKey(draw.top_p, edit.token, 8, 3) & 1);
}

}  // namespace xq
