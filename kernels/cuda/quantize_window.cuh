// Quantize-on-append on the device: window blocks leaving the recent window become compressed
// blocks, one layer's sections at a time, byte-identical to XqQuantizeBlockLayerReference (the
// same IEEE operations in the same order: compiled without FMA contraction). One CUDA block per
// job (XqQuantizeJobs); threads take key groups (head, channel), then value groups (head, token,
// channel group), each writing only its own params and code bytes.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/xquant_format.h"

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

// The calibrated {s', z'} as two fp16 values at dst.
__device__ __forceinline__ void StoreCalibrated(uint8_t* dst, const GroupQuantizer& q, float eta) {
  const uint16_t s = FloatToHalfBits((1.0f - 2.0f * eta) * q.s);
  const uint16_t z = FloatToHalfBits(q.z + eta * q.s * static_cast<float>(q.levels));
  memcpy(dst, &s, 2);
  memcpy(dst + 2, &z, 2);
}

// Code i of the string at bit i * bits (the string zeroed first).
__device__ __forceinline__ void PutCode(uint8_t* codes, int64_t i, int bits, int code) {
  const int64_t bit = i * bits;
  codes[bit >> 3] = static_cast<uint8_t>(codes[bit >> 3] | (code << (bit & 7)));
}

// grid = jobs, block = any multiple of 32 threads.
//   layout: device copy; arena: every block id at arena + id * block_bytes
//   pages: [jobs * window_pages_per_block]; blocks: [jobs]
__global__ void QuantizeWindowBlocksKernel(const KvBlockLayout* layout, uint8_t* arena,
                                           int64_t layer, const int32_t* pages,
                                           const int32_t* blocks) {
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

  // Keys: group (h, d) over the G tokens.
  if (spec.k.bits == kFp16Bits) {
    for (int64_t i = threadIdx.x; i < H * G * D; i += blockDim.x) {
      const int64_t h = i / (G * D), j = i / D % G, d = i % D;  // raw [H][G][D]
      const uint16_t bits = element(0, j, h * D + d);
      memcpy(block + o.k_codes + i * 2, &bits, 2);
    }
  } else {
    const int64_t code_bytes = L.KeyCodeBytes(spec.k.bits);
    for (int64_t g = threadIdx.x; g < H * D; g += blockDim.x) {
      auto x = [&](int64_t j) { return HalfBitsToFloat(element(0, j, g)); };
      const GroupQuantizer q = FitGroup(x, G, spec.k.bits);
      StoreCalibrated(block + o.k_params + g * 4, q, spec.k.eta);
      if (spec.k.shares_codes) continue;
      uint8_t* codes = block + o.k_codes + g * code_bytes;
      for (int64_t b = 0; b < code_bytes; ++b) codes[b] = 0;
      for (int64_t j = 0; j < G; ++j) PutCode(codes, j, spec.k.bits, GroupCode(q, x(j)));
    }
  }
  // Values: group (h, j, c) over G consecutive channels of token j.
  if (spec.v.bits == kFp16Bits) {
    for (int64_t i = threadIdx.x; i < H * G * D; i += blockDim.x) {
      const int64_t h = i / (G * D), j = i / D % G, d = i % D;
      const uint16_t bits = element(1, j, h * D + d);
      memcpy(block + o.v_codes + i * 2, &bits, 2);
    }
  } else {
    const int64_t code_bytes = L.ValueCodeBytes(spec.v.bits), groups = L.ValueGroups();
    for (int64_t g = threadIdx.x; g < H * G * groups; g += blockDim.x) {
      const int64_t h = g / (G * groups), j = g / groups % G, c = g % groups;
      auto x = [&](int64_t i) { return HalfBitsToFloat(element(1, j, h * D + c * G + i)); };
      const GroupQuantizer q = FitGroup(x, G, spec.v.bits);
      StoreCalibrated(block + o.v_params + g * 4, q, spec.v.eta);
      if (spec.v.shares_codes) continue;
      // This group's codes are whole bytes of its (head, token) string: G * bits % 8 == 0.
      uint8_t* codes = block + o.v_codes + (h * G + j) * code_bytes;
      for (int64_t b = c * G * spec.v.bits / 8; b < (c + 1) * G * spec.v.bits / 8; ++b) {
        codes[b] = 0;
      }
      for (int64_t i = 0; i < G; ++i) PutCode(codes, c * G + i, spec.v.bits, GroupCode(q, x(i)));
    }
  }
}

}  // namespace xq::cuda
