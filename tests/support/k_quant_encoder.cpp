#include "tests/support/k_quant_encoder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/reference/half.h"

namespace xq::test {
namespace {

constexpr int kSuper = 256;

int Nearest(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::lround(v)), lo, hi);
}

// Q4_K (bits 4) and Q5_K (bits 5): d dmin scales[12] [qh[32]] qs[128]. Group g of 32 values is
// d sc_g q - dmin m_g with 6-bit sc_g, m_g: each group spans [min(x, 0), max(x)] in 2^bits - 1
// steps.
void EncodeQ4KOrQ5K(const float* x, uint8_t* out, int bits) {
  const int levels = (1 << bits) - 1;
  std::array<float, 8> step{}, offset{};
  for (int g = 0; g < 8; ++g) {
    const auto [lo, hi] = std::minmax_element(x + 32 * g, x + 32 * g + 32);
    offset[g] = -std::min(*lo, 0.0f);
    step[g] = (*hi + offset[g]) / static_cast<float>(levels);
  }
  const float d = StoreHalfAt(out, *std::max_element(step.begin(), step.end()) / 63.0f);
  const float dmin = StoreHalfAt(out + 2, *std::max_element(offset.begin(), offset.end()) / 63.0f);
  std::array<int, 8> sc{}, m{};
  for (int g = 0; g < 8; ++g) {
    sc[g] = d > 0.0f ? Nearest(step[g] / d, 0, 63) : 0;
    m[g] = dmin > 0.0f ? Nearest(offset[g] / dmin, 0, 63) : 0;
  }
  uint8_t* scales = out + 4;
  for (int j = 0; j < 4; ++j) {  // the packing ScaleMinK4 undoes
    scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    scales[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xf) | ((m[j + 4] & 0xf) << 4));
  }
  uint8_t* qh = out + 16;
  uint8_t* qs = out + (bits == 4 ? 16 : 48);
  if (bits == 5) std::memset(qh, 0, 32);
  std::memset(qs, 0, 128);
  for (int g = 0; g < 8; ++g) {
    const float scale = d * static_cast<float>(sc[g]), min = dmin * static_cast<float>(m[g]);
    for (int l = 0; l < 32; ++l) {
      const int q = scale > 0.0f ? Nearest((x[32 * g + l] + min) / scale, 0, levels) : 0;
      qs[32 * (g / 2) + l] |= static_cast<uint8_t>((q & 0xf) << (4 * (g % 2)));
      if (bits == 5) qh[l] |= static_cast<uint8_t>((q >> 4) << g);
    }
  }
}

// Q6_K: ql[128] qh[64] scales[16] d. Each 16 values are d scale_j (q - 32), int8 scale_j, q in
// 0..63 (its low 4 bits in ql, top 2 in qh, as dequantize.cpp's BlockQ6_K reads them).
void EncodeQ6K(const float* x, uint8_t* out) {
  std::array<float, 16> step{};
  for (int j = 0; j < 16; ++j) {
    float amax = 0.0f;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * j + l]));
    step[j] = amax / 31.0f;
  }
  const float d = StoreHalfAt(out + 208, *std::max_element(step.begin(), step.end()) / 127.0f);
  std::memset(out, 0, 192);
  for (int j = 0; j < 16; ++j) {
    const int sc = d > 0.0f ? Nearest(step[j] / d, 0, 127) : 0;
    out[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(sc));
    const float scale = d * static_cast<float>(sc);
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * j + l;  // = 128 h + 32 part + k
      const int h = i / 128, part = i % 128 / 32, k = i % 32;
      const int q = (scale > 0.0f ? Nearest(x[i] / scale, -32, 31) : 0) + 32;
      out[64 * h + k + 32 * (part & 1)] |= static_cast<uint8_t>((q & 0xf) << (part < 2 ? 0 : 4));
      out[128 + 32 * h + k] |= static_cast<uint8_t>((q >> 4) << (2 * part));
    }
  }
}

}  // namespace

std::vector<uint8_t> EncodeKQuantRow(GgmlType type, const float* x, int64_t n) {
  const bool k_quant =
      type == GgmlType::kQ4_K || type == GgmlType::kQ5_K || type == GgmlType::kQ6_K;
  if (!k_quant || n < 0 || n % kSuper != 0) {
    throw std::invalid_argument("EncodeKQuantRow: " + GgmlTypeName(static_cast<uint32_t>(type)) +
                                " with n=" + std::to_string(n));
  }
  const int64_t bytes = FindGgmlType(static_cast<uint32_t>(type))->block_bytes;
  std::vector<uint8_t> out(static_cast<size_t>(n / kSuper * bytes));
  for (int64_t b = 0; b < n / kSuper; ++b) {
    uint8_t* block = out.data() + b * bytes;
    if (type == GgmlType::kQ6_K) {
      EncodeQ6K(x + b * kSuper, block);
    } else {
      EncodeQ4KOrQ5K(x + b * kSuper, block, type == GgmlType::kQ4_K ? 4 : 5);
    }
  }
  return out;
}

}  // namespace xq::test
