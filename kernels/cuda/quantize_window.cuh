// Quantize-on-append on the device: window blocks leaving the recent window become compressed
// blocks, one layer's sections at a time, byte-identical to XqQuantizeBlockLayerReference (the
// same IEEE operations in the same order: compiled without FMA contraction). One CUDA block per
// job (XqQuantizeJobs); threads take key groups (head, token group, channel), then value groups
// (head, token, channel group), each writing only its own params and code bytes. With 8-bit params
// each head's base is stored first (xquant_params.h), and every group's bytes are encoded
// against it.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/xquant_format.h"
#include "kernels/include/xquant_params.h"

namespace xq::cuda {

struct GroupQuantizer {
  float s, z;  // uncalibrated: codes use these
  int levels;
};

// x(i) for i < n is the group's i-th value.
template <typename Load>
__device__ GroupQuantizer FitGroup(Load x, int64_t n, int bits) {
  float lo = x(0), hi = x(0);
  for (int64_t i = 1; i < n; ++i) {
    const float v = x(i);  // the comparisons of std::min / std::max, so signed zeros agree
    lo = v < lo ? v : lo;
    hi = hi < v ? v : hi;
  }
  GroupQuantizer q;
  q.levels = (1 << bits) - 1;
  q.z = lo;
  q.s = (hi - lo) / static_cast<float>(q.levels);
  return q;
}

__device__ __forceinline__ int GroupCode(const GroupQuantizer& q, float x) {
  if (q.s == 0.0f) return 0;
  const float c = rintf((x - q.z) / q.s);  // std::clamp's comparisons
  const float top = static_cast<float>(q.levels);
  return static_cast<int>(c < 0.0f ? 0.0f : top < c ? top : c);
}

// Group i's calibrated {s', z'} in its head's params (head points at them): two fp16 values, or
// two bytes against the head's base, which must have been stored already.
__device__ __forceinline__ void StoreCalibrated(const KvSlotSpec& spec, const GroupQuantizer& q,
                                                uint8_t* head, int64_t i) {
  const ParamPair p = CalibratedPair(q.s, q.z, q.levels, spec.eta);
  if (spec.param_bits == 8) return StoreParamPair8(LoadParamBase(head), p, head, i);
  const uint16_t s = FloatToHalfBits(p.s), z = FloatToHalfBits(p.z);
  memcpy(head + i * 4, &s, 2);
  memcpy(head + i * 4 + 2, &z, 2);
}

// With 8-bit params, thread h < H stores head h's base, fitted from all its `groups` groups
// (fit(h, i) gives group i's quantizer); every thread waits for all bases.
template <typename Fit>
__device__ void StoreParamBases(const KvSlotSpec& spec, int64_t H, int64_t groups,
                                int64_t head_bytes, uint8_t* params, Fit fit) {
  if (spec.param_bits != 8) return;
  for (int64_t h = threadIdx.x; h < H; h += blockDim.x) {
    ParamExtent extent;
    for (int64_t i = 0; i < groups; ++i) {
      const GroupQuantizer q = fit(h, i);
      extent.Add(CalibratedPair(q.s, q.z, q.levels, spec.eta));
    }
    StoreParamBase(FitParamBase(extent), params + h * head_bytes);
  }
  __syncthreads();
}

// Code i of the string at bit i * bits (the string zeroed first).
__device__ __forceinline__ void PutCode(uint8_t* codes, int64_t i, int bits, int code) {
  const int64_t bit = i * bits;
  codes[bit >> 3] = static_cast<uint8_t>(codes[bit >> 3] | (code << (bit & 7)));
}

// grid = jobs, block = any multiple of 32 threads. A job whose block is -1 does nothing: the
// padding of a fixed-shape launch (a CUDA graph's).
//   layout: device copy; arena: every block id at arena + id * block_bytes
//   pages: [jobs * window_pages_per_block]; blocks: [jobs]
__global__ void QuantizeWindowBlocksKernel(const KvBlockLayout* layout, uint8_t* arena,
                                           int64_t layer, const int32_t* pages,
                                           const int32_t* blocks) {
  if (blocks[blockIdx.x] < 0) return;
  const KvBlockLayout& L = *layout;
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  const XqWindowView w{pages + static_cast<int64_t>(blockIdx.x) * L.window_pages_per_block, 0};
  uint8_t* block = arena + static_cast<int64_t>(blocks[blockIdx.x]) * L.block_bytes;
  const KvLayerSpec spec = L.layers[layer];
  const KvLayerOffsets o = L.offsets[layer];
  // Element e (< H * D) of window row t of keys (is_value 0) or values (1).
  auto element = [&](int is_value, int64_t t, int64_t e) {
    int64_t run;
    const int64_t at = WindowRowOffset(L, w, layer, is_value, t, &run) + e * 2;
    uint16_t bits;
    memcpy(&bits, arena + at, 2);
    return bits;
  };

  // Keys: group (h, t, d): channel d of head h over tokens [t * T, (t + 1) * T), T = group_tokens.
  if (spec.k.bits == kFp16Bits) {
    for (int64_t i = threadIdx.x; i < H * G * D; i += blockDim.x) {
      const int64_t h = i / (G * D), j = i / D % G, d = i % D;  // raw [H][G][D]
      const uint16_t bits = element(0, j, h * D + d);
      memcpy(block + o.k_codes + i * 2, &bits, 2);
    }
  } else {
    const int64_t T = L.KeyGroupTokens(spec.k), groups = L.ParamGroups(spec.k, true);
    const int64_t code_bytes = L.KeyCodeBytes(spec.k.bits);
    const int64_t head_bytes = L.ParamHeadBytes(spec.k, true);
    auto fit = [&](int64_t h, int64_t i) {
      const int64_t t0 = i / D * T, e = h * D + i % D;
      return FitGroup([&](int64_t j) { return HalfBitsToFloat(element(0, t0 + j, e)); }, T,
                      spec.k.bits);
    };
    StoreParamBases(spec.k, H, groups, head_bytes, block + o.k_params, fit);
    for (int64_t g = threadIdx.x; g < H * groups; g += blockDim.x) {
      const int64_t h = g / groups, i = g % groups, t0 = i / D * T, d = i % D;
      const GroupQuantizer q = fit(h, i);
      StoreCalibrated(spec.k, q, block + o.k_params + h * head_bytes, i);
      if (spec.k.shares_codes) continue;
      // This group's codes are whole bytes of the (head, channel) string: T * bits % 8 == 0.
      uint8_t* codes = block + o.k_codes + (h * D + d) * code_bytes;
      for (int64_t b = t0 * spec.k.bits / 8; b < (t0 + T) * spec.k.bits / 8; ++b) codes[b] = 0;
      for (int64_t j = 0; j < T; ++j) {
        PutCode(codes, t0 + j, spec.k.bits,
                GroupCode(q, HalfBitsToFloat(element(0, t0 + j, h * D + d))));
      }
    }
  }
  // Values: group (h, j, c) over C = group_channels consecutive channels of token j.
  if (spec.v.bits == kFp16Bits) {
    for (int64_t i = threadIdx.x; i < H * G * D; i += blockDim.x) {
      const int64_t h = i / (G * D), j = i / D % G, d = i % D;
      const uint16_t bits = element(1, j, h * D + d);
      memcpy(block + o.v_codes + i * 2, &bits, 2);
    }
  } else {
    const int64_t C = L.ValueGroupChannels(spec.v), per_token = L.ValueGroups(spec.v);
    const int64_t code_bytes = L.ValueCodeBytes(spec.v.bits);
    const int64_t groups = L.ParamGroups(spec.v, false);  // G * per_token
    const int64_t head_bytes = L.ParamHeadBytes(spec.v, false);
    auto fit = [&](int64_t h, int64_t i) {
      const int64_t j = i / per_token, e = h * D + i % per_token * C;
      return FitGroup([&](int64_t k) { return HalfBitsToFloat(element(1, j, e + k)); }, C,
                      spec.v.bits);
    };
    StoreParamBases(spec.v, H, groups, head_bytes, block + o.v_params, fit);
    for (int64_t g = threadIdx.x; g < H * groups; g += blockDim.x) {
      const int64_t h = g / groups, i = g % groups, j = i / per_token, c = i % per_token;
      const GroupQuantizer q = fit(h, i);
      StoreCalibrated(spec.v, q, block + o.v_params + h * head_bytes, i);
      if (spec.v.shares_codes) continue;
      // This group's codes are whole bytes of its (head, token) string: C * bits % 8 == 0.
      uint8_t* codes = block + o.v_codes + (h * G + j) * code_bytes;
      for (int64_t b = c * C * spec.v.bits / 8; b < (c + 1) * C * spec.v.bits / 8; ++b) {
        codes[b] = 0;
      }
      for (int64_t k = 0; k < C; ++k) {
        PutCode(codes, c * C + k, spec.v.bits,
                GroupCode(q, HalfBitsToFloat(element(1, j, h * D + c * C + k))));
      }
    }
  }
}

}  // namespace xq::cuda
