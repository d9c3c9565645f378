// DeviceWeights: a model's weights uploaded once to the device. Matrices become fp16 for the
// cuBLAS GEMMs (GGUF-quantized matrices are dequantized first); norms, biases and the token
// embedding (gathered row by row) stay fp32.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/runner/cuda/device_buffer.h"

namespace xq {

struct DeviceLayerWeights {
  DeviceBuffer<float> attn_norm, ffn_norm;
  DeviceBuffer<float> bq, bk, bv;  // empty unless the model has Q/K/V biases
  DeviceBuffer<uint16_t> wq, wk, wv, wo, w_gate, w_up, w_down;
};

struct DeviceWeights {
  DeviceBuffer<float> token_embedding;  // [vocab, hidden]
  std::vector<DeviceLayerWeights> layers;
  DeviceBuffer<float> output_norm;
  DeviceBuffer<uint16_t> output;  // [vocab, hidden]; its own fp16 copy when tied
  int64_t bytes = 0;              // device memory held
  int64_t dequantized = 0;        // GGUF-quantized matrices turned into fp16
};

DeviceWeights UploadWeights(const Model& model, cudaStream_t stream);

}  // namespace xq
