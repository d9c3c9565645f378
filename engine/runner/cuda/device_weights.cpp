#include "engine/runner/cuda/device_weights.h"

#include <initializer_list>
#include <utility>

#include "engine/model/dequantize.h"
#include "kernels/include/thread_pool.h"
#include "kernels/reference/half.h"

namespace xq {
namespace {

// A quantized tensor's values as fp32, dequantized row by row.
std::vector<float> Dequantized(const Tensor& t) {
  std::vector<float> out(t.rows() * t.cols());
  ComputePool().ParallelFor(t.rows(), Schedule::kStatic, [&](int64_t r) {
    DequantizeMatrixRow(t, r, out.data() + r * t.cols());
  });
  return out;
}

class Uploader {
 public:
  Uploader(DeviceWeights& w, cudaStream_t stream) : w_(w), stream_(stream) {}

  void Fp32(const Tensor& t, DeviceBuffer<float>& dst) {
    if (t.empty()) return;
    if (t.quantized()) {
      dst.Upload(Dequantized(t), stream_);
    } else {
      dst.Upload(t.data, stream_);
    }
    w_.bytes += static_cast<int64_t>(dst.bytes());
  }

  void Fp16(const Tensor& t, DeviceBuffer<uint16_t>& dst) {
    std::vector<float> dequantized;
    if (t.quantized()) {
      ++w_.dequantized;
      dequantized = Dequantized(t);
    }
    const std::vector<float>& v = t.quantized() ? dequantized : t.data;
    const auto n = static_cast<int64_t>(v.size());
    std::vector<uint16_t> half(n);
    ComputePool().ParallelForRanges(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) half[i] = FloatToHalf(v[i]);
    });
    dst.Upload(half, stream_);
    w_.bytes += static_cast<int64_t>(dst.bytes());
  }

 private:
  DeviceWeights& w_;
  cudaStream_t stream_;
};

}  // namespace

DeviceWeights UploadWeights(const Model& model, cudaStream_t stream) {
  const ModelWeights& m = model.weights;
  DeviceWeights w;
  Uploader up(w, stream);
  up.Fp32(m.token_embedding, w.token_embedding);
  w.layers.resize(m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerWeights& l = m.layers[i];
    DeviceLayerWeights& d = w.layers[i];
    up.Fp32(l.attn_norm, d.attn_norm);
    up.Fp32(l.ffn_norm, d.ffn_norm);
    up.Fp32(l.bq, d.bq);
    up.Fp32(l.bk, d.bk);
    up.Fp32(l.bv, d.bv);
    using Matrix = std::pair<const Tensor*, DeviceBuffer<uint16_t>*>;
    for (auto [src, dst] : std::initializer_list<Matrix>{{&l.wq, &d.wq},
                                                         {&l.wk, &d.wk},
                                                         {&l.wv, &d.wv},
                                                         {&l.wo, &d.wo},
                                                         {&l.w_gate, &d.w_gate},
                                                         {&l.w_up, &d.w_up},
                                                         {&l.w_down, &d.w_down}}) {
      up.Fp16(*src, *dst);
    }
  }
  up.Fp32(m.output_norm, w.output_norm);
  up.Fp16(model.output_matrix(), w.output);
  // The host vectors above are staged before each copy returns; wait so that a failure shows
  // here rather than in the first step.
  CheckCuda(cudaStreamSynchronize(stream), "uploading the weights");
  return w;
}

}  // namespace xq
