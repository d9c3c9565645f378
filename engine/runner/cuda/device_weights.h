// DeviceWeights: a model's weights uploaded once to the device. GGUF matrices in blocks the
// device decodes (cuda::DeviceDecodes: every quantized type the loader keeps) stay in their blocks
// (the quantized GEMV and tensor-core GEMM read them for decode; larger steps dequantize them slice
// by slice into an fp16 scratch for cuBLAS); every other matrix becomes fp16 for cuBLAS. Norms,
// biases and the token embedding (gathered row by row) stay fp32.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/runner/cuda/device_buffer.h"

namespace xq {

// A [rows, cols] matrix on the device, in one of two forms.
struct DeviceMatrix {
  int64_t rows = 0, cols = 0;
  DeviceBuffer<uint16_t> half;   // fp16, unless kept in blocks
  DeviceBuffer<uint8_t> blocks;  // [rows, cols] in GGML blocks of `type`
  GgmlType type = GgmlType::kF16;
  bool quantized() const { return !blocks.empty(); }
};

struct DeviceLayerWeights {
  DeviceBuffer<float> attn_norm, ffn_norm;
  DeviceBuffer<float> bq, bk, bv;  // empty unless the model has Q/K/V biases
  DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

// Elements of the fp16 scratch a quantized matrix is dequantized into, a slice of its rows at
// a time (32 MiB: a slice's GEMM still fills the GPU).
inline constexpr int64_t kDequantizeSliceElements = int64_t{16} << 20;

struct DeviceWeights {
  // The token embedding [vocab, hidden]: fp32, or kept in GGML blocks, where a tied embedding
  // is the output matrix's blocks (one copy for both).
  DeviceBuffer<float> token_embedding;
  DeviceMatrix token_embedding_blocks;
  bool embedding_is_output = false;
  std::vector<DeviceLayerWeights> layers;
  DeviceBuffer<float> output_norm;
  DeviceMatrix output;  // [vocab, hidden]; its own copy when tied, unless in blocks
  // Slices of quantized matrices for GEMMs over more rows than the GEMV takes: at most
  // slice_elements each.
  DeviceBuffer<uint16_t> dequantize_scratch;
  // The tensor-core GEMM's split partial sums: the most any matrix in blocks needs at the rows
  // the runner gives that GEMM.
  DeviceBuffer<float> split_partials;
  int64_t slice_elements = kDequantizeSliceElements;
  int64_t bytes = 0;      // device memory held
  int64_t quantized = 0;  // matrices kept in GGML blocks
  int64_t fp16 = 0;       // matrices turned into fp16

  // Rows of `m` one dequantized slice holds.
  int64_t SliceRows(const DeviceMatrix& m) const;
  // The embedding's blocks, or null when it is fp32.
  const DeviceMatrix* EmbeddingBlocks() const {
    if (embedding_is_output) return &output;
    return token_embedding_blocks.quantized() ? &token_embedding_blocks : nullptr;
  }
};

// keep_quantized false: matrices in blocks become fp16 too. slice_elements: the
// scratch's size (tests make it small to cut matrices into many slices).
DeviceWeights UploadWeights(const Model& model, cudaStream_t stream, bool keep_quantized = true,
                            int64_t slice_elements = kDequantizeSliceElements);

}  // namespace xq
