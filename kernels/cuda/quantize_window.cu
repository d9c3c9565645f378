#include "kernels/cuda/ops.h"
#include "kernels/cuda/quantize_window.cuh"

namespace xq::cuda {

void LaunchQuantizeWindowBlocks(const KvBlockLayout* layout, uint8_t* arena, int64_t layer,
                                const int32_t* pages, const int32_t* blocks, int64_t jobs,
                                cudaStream_t stream) {
  if (jobs <= 0) return;
  XQ_LAUNCH(QuantizeWindowBlocksKernel, static_cast<unsigned>(jobs), 128, 0, stream, layout, arena,
            layer, pages, blocks);
}

}  // namespace xq::cuda
