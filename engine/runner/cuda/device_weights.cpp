#include "engine/runner/cuda/device_weights.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "engine/model/dequantize.h"
#include "kernels/cuda/ops.h"
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
  Uploader(DeviceWeights& w, cudaStream_t stream, bool keep_quantized)
      : w_(w), stream_(stream), keep_quantized_(keep_quantized) {}

  void Fp32(const Tensor& t, DeviceBuffer<float>& dst) {
    if (t.empty()) return;
    if (t.synthetic) {
      Generate(t, dst);
    } else if (t.quantized()) {
      dst.Upload(Dequantized(t), stream_);
    } else {
      dst.Upload(t.data, stream_);
    }
    w_.bytes += static_cast<int64_t>(dst.bytes());
  }

  bool KeepsBlocks(const Tensor& t) const {
    return t.quantized() && !t.packed && keep_quantized_ && cuda::DeviceDecodes(t.block_type);
  }

  // A matrix: kept in its GGML blocks when they are in GGUF order, of a type the device decodes
  // and asked for; else fp16.
  // multiplied: MatMul takes it (so its slices size the scratch).
  void Matrix(const Tensor& t, DeviceMatrix& dst, bool multiplied = true) {
    dst.rows = t.rows();
    dst.cols = t.cols();
    if (KeepsBlocks(t)) {
      dst.type = t.block_type;
      dst.blocks.Upload(t.blocks, stream_);
      ++w_.quantized;
      w_.bytes += static_cast<int64_t>(dst.blocks.bytes());
      if (multiplied) quantized_.push_back(&dst);
      return;
    }
    if (t.synthetic) {
      Generate(t, dst.half);
      ++w_.fp16;
      w_.bytes += static_cast<int64_t>(dst.half.bytes());
      return;
    }
    std::vector<float> dequantized;
    if (t.quantized()) dequantized = Dequantized(t);
    const std::vector<float>& v = t.quantized() ? dequantized : t.data;
    const auto n = static_cast<int64_t>(v.size());
    std::vector<uint16_t> half(n);
    ComputePool().ParallelForRanges(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) half[i] = FloatToHalf(v[i]);
    });
    dst.half.Upload(half, stream_);
    ++w_.fp16;
    w_.bytes += static_cast<int64_t>(dst.half.bytes());
  }

  // The scratch one slice of the largest quantized matrix needs, and the tensor-core GEMM's.
  void Scratch() {
    // A slice is whole rows: at least one, however long.
    int64_t most = 0;
    for (const DeviceMatrix* m : quantized_) {
      most = std::max(most, std::min(m->rows, w_.SliceRows(*m)) * m->cols);
    }
    if (most == 0) return;
    w_.dequantize_scratch.Reserve(static_cast<size_t>(most));
    int64_t partials = 0;
    for (const DeviceMatrix* m : quantized_) {
      for (int64_t rows = cuda::kQGemvMaxRows + 1; rows <= cuda::kQMmaMaxRows; ++rows) {
        partials = std::max(partials, cuda::QMmaPartialFloats(rows, m->rows, m->cols));
      }
    }
    w_.split_partials.Reserve(static_cast<size_t>(partials));
    w_.bytes += static_cast<int64_t>(w_.dequantize_scratch.bytes() + w_.split_partials.bytes());
  }

 private:
  // A synthetic model's values, generated in place instead of uploaded.
  template <typename T>
  void Generate(const Tensor& t, DeviceBuffer<T>& dst) {
    const int64_t n = t.rows() * t.cols();
    dst.Reserve(static_cast<size_t>(n));
    cuda::LaunchSyntheticFill(dst.data(), n, t.synthetic->seed, t.synthetic->stream,
                              t.synthetic->scale, stream_);
    CheckCuda(cudaGetLastError(), "generating synthetic weights");
  }

  DeviceWeights& w_;
  cudaStream_t stream_;
  bool keep_quantized_;
  std::vector<const DeviceMatrix*> quantized_;  // kept in blocks, for the scratch's size
};

}  // namespace

DeviceWeights UploadWeights(const Model& model, cudaStream_t stream, bool keep_quantized,
                            int64_t slice_elements) {
  const ModelWeights& m = model.weights;
  DeviceWeights w;
  w.slice_elements = slice_elements;
  Uploader up(w, stream, keep_quantized);
  const bool tied = &model.output_matrix() == &m.token_embedding;
  if (!up.KeepsBlocks(m.token_embedding)) {
    up.Fp32(m.token_embedding, w.token_embedding);
  } else if (tied) {
    w.embedding_is_output = true;  // uploaded once, as the output matrix below
  } else {
    up.Matrix(m.token_embedding, w.token_embedding_blocks, /*multiplied=*/false);
  }
  w.layers.resize(m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerWeights& l = m.layers[i];
    DeviceLayerWeights& d = w.layers[i];
    up.Fp32(l.attn_norm, d.attn_norm);
    up.Fp32(l.ffn_norm, d.ffn_norm);
    up.Fp32(l.bq, d.bq);
    up.Fp32(l.bk, d.bk);
    up.Fp32(l.bv, d.bv);
    using Matrix = std::pair<const Tensor*, DeviceMatrix*>;
    for (auto [src, dst] : std::initializer_list<Matrix>{{&l.wq, &d.wq},
                                                         {&l.wk, &d.wk},
                                                         {&l.wv, &d.wv},
                                                         {&l.wo, &d.wo},
                                                         {&l.w_gate, &d.w_gate},
                                                         {&l.w_up, &d.w_up},
                                                         {&l.w_down, &d.w_down}}) {
      up.Matrix(*src, *dst);
    }
  }
  up.Fp32(m.output_norm, w.output_norm);
  up.Matrix(model.output_matrix(), w.output);
  up.Scratch();
  // The host vectors above are staged before each copy returns; wait so that a failure shows
  // here rather than in the first step.
  CheckCuda(cudaStreamSynchronize(stream), "uploading the weights");
  return w;
}

// Whole multiples of 128 rows where a slice holds that many, so that each slice's columns of y
// start aligned for cuBLAS.
int64_t DeviceWeights::SliceRows(const DeviceMatrix& m) const {
  const int64_t rows = m.cols > 0 ? std::max<int64_t>(1, slice_elements / m.cols) : 1;
  return rows >= 128 ? rows / 128 * 128 : rows;
}

}  // namespace xq
