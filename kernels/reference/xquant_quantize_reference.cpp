// Scalar truth for quantizing one layer's slice of an XQuant block (min-max quantizer, data-free
// calibration, cross-layer code sharing, fp16 copy for 16-bit slots).
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/include/xquant_kernels.h"
#include "kernels/include/xquant_params.h"
#include "kernels/reference/xquant_codes.h"

namespace xq {
namespace {

using xqref::PutCode;
using xqref::StoreHalf;

struct Quantizer {
  int bits;
  float s, z;  // uncalibrated

  Quantizer(const std::vector<float>& x, int b) : bits(b) {
    float lo = x[0], hi = x[0];
    for (float v : x) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    z = lo;
    s = (hi - lo) / static_cast<float>(Levels());
  }
  int Levels() const { return (1 << bits) - 1; }
  int Code(float x) const {
    if (s == 0.0f) return 0;
    const float c = std::nearbyint((x - z) / s);
    return static_cast<int>(std::clamp(c, 0.0f, static_cast<float>(Levels())));
  }
  ParamPair Calibrated(float eta) const { return CalibratedPair(s, z, Levels(), eta); }
};

// One head's calibrated pairs, in group order, stored as the slot's param_bits say.
void StoreHeadParams(const KvSlotSpec& spec, const std::vector<ParamPair>& pairs, uint8_t* head) {
  if (spec.param_bits == kFp16Bits) {
    for (size_t i = 0; i < pairs.size(); ++i) {
      StoreHalf(head + i * 4, static_cast<_Float16>(pairs[i].s));
      StoreHalf(head + i * 4 + 2, static_cast<_Float16>(pairs[i].z));
    }
    return;
  }
  ParamExtent extent;
  for (const ParamPair& p : pairs) extent.Add(p);
  const ParamBase base = FitParamBase(extent);
  StoreParamBase(base, head);
  for (size_t i = 0; i < pairs.size(); ++i) StoreParamPair8(base, pairs[i], head, i);
}

// Keys: one group per (head, channel, run of T = group_tokens tokens); params [G/T][D] per head.
void QuantizeKeys(const KvBlockLayout& L, const KvSlotSpec& spec, const KvLayerOffsets& o,
                  const _Float16* k, uint8_t* block) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  const int64_t T = L.KeyGroupTokens(spec), code_bytes = L.KeyCodeBytes(spec.bits);
  std::vector<float> x(T);
  std::vector<ParamPair> pairs(G / T * D);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t d = 0; d < D; ++d) {
      uint8_t* codes = block + o.k_codes + (h * D + d) * code_bytes;
      if (!spec.shares_codes) std::memset(codes, 0, code_bytes);
      for (int64_t t0 = 0; t0 < G; t0 += T) {
        for (int64_t j = 0; j < T; ++j) x[j] = static_cast<float>(k[(t0 + j) * H * D + h * D + d]);
        const Quantizer q(x, spec.bits);
        pairs[t0 / T * D + d] = q.Calibrated(spec.eta);
        if (spec.shares_codes) continue;
        for (int64_t j = 0; j < T; ++j) PutCode(codes, t0 + j, spec.bits, q.Code(x[j]));
      }
    }
    StoreHeadParams(spec, pairs, block + o.k_params + h * L.ParamHeadBytes(spec, true));
  }
}

// Values: one group per (head, token) over each run of C = group_channels consecutive channels.
void QuantizeValues(const KvBlockLayout& L, const KvSlotSpec& spec, const KvLayerOffsets& o,
                    const _Float16* v, uint8_t* block) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  const int64_t C = L.ValueGroupChannels(spec), groups = L.ValueGroups(spec);
  const int64_t code_bytes = L.ValueCodeBytes(spec.bits);
  std::vector<float> x(C);
  std::vector<ParamPair> pairs(G * groups);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t j = 0; j < G; ++j) {
      uint8_t* codes = block + o.v_codes + (h * G + j) * code_bytes;
      if (!spec.shares_codes) std::memset(codes, 0, code_bytes);
      for (int64_t c = 0; c < groups; ++c) {
        for (int64_t i = 0; i < C; ++i) x[i] = static_cast<float>(v[j * H * D + h * D + c * C + i]);
        const Quantizer q(x, spec.bits);
        pairs[j * groups + c] = q.Calibrated(spec.eta);
        if (spec.shares_codes) continue;
        for (int64_t i = 0; i < C; ++i) PutCode(codes, c * C + i, spec.bits, q.Code(x[i]));
      }
    }
    StoreHeadParams(spec, pairs, block + o.v_params + h * L.ParamHeadBytes(spec, false));
  }
}

// 16-bit slot: [G][H*D] rows become [H][G][D].
void CopyFp16(const KvBlockLayout& L, int64_t offset, const _Float16* x, uint8_t* block) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t j = 0; j < G; ++j) {
      std::memcpy(block + offset + (h * G + j) * D * 2, x + j * H * D + h * D, D * 2);
    }
  }
}

}  // namespace

void XqQuantizeBlockLayerReference(const KvBlockLayout& layout, int64_t layer, const Fp16* k16,
                                   const Fp16* v16, uint8_t* block) {
  const auto* k = reinterpret_cast<const _Float16*>(k16);
  const auto* v = reinterpret_cast<const _Float16*>(v16);
  assert(layer >= 0 && layer < layout.num_layers);
  const KvLayerSpec& spec = layout.layers[layer];
  const KvLayerOffsets& o = layout.offsets[layer];
  if (spec.k.bits == kFp16Bits) {
    CopyFp16(layout, o.k_codes, k, block);
  } else {
    QuantizeKeys(layout, spec.k, o, k, block);
  }
  if (spec.v.bits == kFp16Bits) {
    CopyFp16(layout, o.v_codes, v, block);
  } else {
    QuantizeValues(layout, spec.v, o, v, block);
  }
}

}  // namespace xq
