// Scalar truth for attention over XQuant blocks plus the fp16 window: one element dequantized at
// a time, plain sequential fp32 loops in position order, single thread.
#include <cassert>
#include <cmath>
#include <vector>

#include "kernels/include/xquant_kernels.h"
#include "kernels/reference/xquant_codes.h"

namespace xq {
namespace {

using xqref::GetCode;
using xqref::LoadHalf;
using xqref::LoadGroupParams;
using xqref::ScaleZero;

float RoundHalf(float x) { return static_cast<float>(static_cast<_Float16>(x)); }

// One of K or V of one layer as stored in blocks; a sharing slot reads layer-1's codes.
struct StoredSlot {
  const KvBlockLayout& L;
  KvSlotSpec spec;
  int bits;
  int64_t codes;   // byte offset in the block; raw fp16 for a 16-bit slot
  int64_t params;  // -1 for a 16-bit slot
  int64_t head_bytes;

  StoredSlot(const KvBlockLayout& layout, int64_t layer, bool key) : L(layout) {
    spec = key ? L.layers[layer].k : L.layers[layer].v;
    const KvLayerOffsets& own = L.offsets[layer];
    const KvLayerOffsets& coder = spec.shares_codes ? L.offsets[layer - 1] : own;
    bits = spec.bits;
    head_bytes = L.ParamHeadBytes(spec, key);
    codes = key ? coder.k_codes : coder.v_codes;
    params = key ? own.k_params : own.v_params;
  }
  bool fp16() const { return bits == kFp16Bits; }

  // Raw fp16 layout [H][G][D] for both keys and values.
  float Raw(const uint8_t* block, int64_t g, int64_t j, int64_t d) const {
    return LoadHalf(block + codes + ((g * L.block_tokens + j) * L.head_dim + d) * 2);
  }
  float Key(const uint8_t* block, int64_t g, int64_t j, int64_t d) const {
    if (fp16()) return Raw(block, g, j, d);
    const int code = GetCode(block + codes + (g * L.head_dim + d) * L.KeyCodeBytes(bits), j, bits);
    const int64_t group = j / L.KeyGroupTokens(spec) * L.head_dim + d;
    const ScaleZero sz = LoadGroupParams(block + params + g * head_bytes, spec.param_bits, group);
    return static_cast<float>(code) * sz.s + sz.z;
  }
  float Value(const uint8_t* block, int64_t g, int64_t j, int64_t d) const {
    if (fp16()) return Raw(block, g, j, d);
    const int64_t row = g * L.block_tokens + j;
    const int code = GetCode(block + codes + row * L.ValueCodeBytes(bits), d, bits);
    const int64_t group = j * L.ValueGroups(spec) + d / L.ValueGroupChannels(spec);
    const ScaleZero sz = LoadGroupParams(block + params + g * head_bytes, spec.param_bits, group);
    return static_cast<float>(code) * sz.s + sz.z;
  }
};

const _Float16* WindowRow(const XqAttentionParams& p, int is_value, int64_t pos) {
  const XqWindowView w{p.window_pages, p.window_start / p.layout->block_tokens};
  int64_t run;
  const int64_t offset = WindowRowOffset(*p.layout, w, p.layer, is_value, pos, &run);
  return reinterpret_cast<const _Float16*>(p.arena + offset);
}

}  // namespace

void XqAttentionReference(const XqAttentionParams& p) {
  const KvBlockLayout& L = *p.layout;
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  const int64_t length = p.window_start + p.window_len;
  assert(p.layer >= 0 && p.layer < L.num_layers);
  assert(p.num_heads % H == 0 && p.n <= length && p.window_start <= p.num_blocks * G);
  const int64_t heads_per_kv = p.num_heads / H;
  const StoredSlot ks(L, p.layer, true), vs(L, p.layer, false);
  std::vector<float> weights;
  std::vector<float> q16(D);

  for (int64_t t = 0; t < p.n; ++t) {
    const int64_t pos = length - p.n + t;
    const int64_t frontier = QuantizedFrontier(pos + 1, p.recent_window, G);
    assert(frontier <= p.num_blocks * G && p.window_start <= frontier);
    const int64_t sink_end = SinkEnd(L, frontier);
    auto compressed = [&](int64_t j) { return j >= sink_end && j < frontier; };
    weights.assign(pos + 1, 0.0f);
    for (int64_t h = 0; h < p.num_heads; ++h) {
      const int64_t g = h / heads_per_kv;
      const float* q = p.q + (t * p.num_heads + h) * D;
      float* out = p.out + (t * p.num_heads + h) * D;
      for (int64_t d = 0; d < D; ++d) q16[d] = RoundHalf(q[d]);

      float max_score = -INFINITY;
      for (int64_t j = 0; j <= pos; ++j) {
        float dot = 0.0f;
        if (compressed(j)) {
          const uint8_t* block = p.arena + p.block_table[j / G] * L.block_bytes;
          const float* qq = ks.fp16() ? q16.data() : q;
          for (int64_t d = 0; d < D; ++d) dot += qq[d] * ks.Key(block, g, j % G, d);
        } else {
          const _Float16* k = WindowRow(p, 0, j) + g * D;
          for (int64_t d = 0; d < D; ++d) dot += q16[d] * static_cast<float>(k[d]);
        }
        weights[j] = dot * p.scale;
        if (weights[j] > max_score) max_score = weights[j];
      }
      float sum = 0.0f;
      for (int64_t j = 0; j <= pos; ++j) {
        weights[j] = std::exp(weights[j] - max_score);
        sum += weights[j];
      }
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j <= pos; ++j) weights[j] *= inv;

      for (int64_t d = 0; d < D; ++d) out[d] = 0.0f;
      for (int64_t j = 0; j <= pos; ++j) {
        if (compressed(j)) {
          const uint8_t* block = p.arena + p.block_table[j / G] * L.block_bytes;
          const float w = vs.fp16() ? RoundHalf(weights[j]) : weights[j];
          for (int64_t d = 0; d < D; ++d) out[d] += w * vs.Value(block, g, j % G, d);
        } else {
          const _Float16* v = WindowRow(p, 1, j) + g * D;
          const float w = RoundHalf(weights[j]);
          for (int64_t d = 0; d < D; ++d) out[d] += w * static_cast<float>(v[d]);
        }
      }
    }
  }
}

}  // namespace xq
