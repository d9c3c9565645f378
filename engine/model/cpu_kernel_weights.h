// Quantized matrices as the CPU matmul kernels (kernels/include/qgemm.h) take them: the kernel
// type of a GGML block type, and packing a loaded model's matrices once for those kernels.
#pragma once

#include "engine/model/ggml_types.h"
#include "engine/model/model_weights.h"
#include "kernels/include/qgemm.h"

namespace xq {

// Throws for block types the quantized matmul does not handle (they load as fp32).
QWeightType QWeightTypeOf(GgmlType type);

// Rearranges every quantized matrix of the model (in place of its GGML blocks, same content) into
// the layout the SIMD matmul kernels read directly, so they skip packing weights on every call;
// marks each Tensor::packed. Only for models the CPU runner will run (the CUDA runner reads GGML
// blocks; DequantizeMatrixRow reads either). Does nothing on a CPU without AVX2, and for
// matrices already packed. Results are the same with or without it.
void PackForCpuKernels(Model& model);

}  // namespace xq
