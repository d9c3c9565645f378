#include "tests/support/quantize_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/reference/half.h"
#include "tests/support/k_quant_encoder.h"

// Keep products and sums separately rounded, as ggml's reference and gguf-py compute them.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace xq::test {
namespace {

constexpr int kQK = 32;

void CheckBlocks(int64_t n, const char* what) {
  if (n < 0 || n % kQK != 0) {
    throw std::invalid_argument(std::string(what) + ": n=" + std::to_string(n) +
                                " is not a multiple of 32");
  }
}

// Q5_0 / Q5_1: the 5th bit of element j goes to bit j of the little-endian u32 qh, the low 4 bits
// to a nibble of qs as in Q4_0 / Q4_1.
void StoreQ5Codes(const int* q, uint8_t* qh_at, uint8_t* qs) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
  std::memcpy(qh_at, &qh, sizeof(qh));
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0xf) | ((q[j + kQK / 2] & 0xf) << 4));
  }
}

}  // namespace

void QuantizeRowQ8_0(const float* x, void* dst, int64_t n) {
  CheckBlocks(n, "QuantizeRowQ8_0");
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += 34) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreHalfAt(out, d);
    for (int j = 0; j < kQK; ++j) {
      const float scaled = x[j] * id;
      out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::roundf(scaled)));
    }
  }
}

void QuantizeRowQ4_0(const float* x, void* dst, int64_t n) {
  CheckBlocks(n, "QuantizeRowQ4_0");
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += 18) {
    // The signed value of largest magnitude maps to -8, so the range [-8, 7] is used fully.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreHalfAt(out, d);
    for (int j = 0; j < kQK / 2; ++j) {
      const float s0 = x[j] * id, s1 = x[j + kQK / 2] * id;
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(s0 + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(s1 + 8.5f)));
      out[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void QuantizeRowQ4_1(const float* x, void* dst, int64_t n) {
  CheckBlocks(n, "QuantizeRowQ4_1");
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += 20) {
    float min = x[0], max = x[0];
    for (int j = 1; j < kQK; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreHalfAt(out, d);
    StoreHalfAt(out + 2, min);
    for (int j = 0; j < kQK / 2; ++j) {
      const float s0 = (x[j] - min) * id, s1 = (x[j + kQK / 2] - min) * id;
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(s0 + 0.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(s1 + 0.5f)));
      out[4 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void QuantizeRowQ5_0(const float* x, void* dst, int64_t n) {
  CheckBlocks(n, "QuantizeRowQ5_0");
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += 22) {
    // As Q4_0: the signed value of largest magnitude maps to -16.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreHalfAt(out, d);
    int q[kQK];
    for (int j = 0; j < kQK; ++j) {
      q[j] = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
    }
    StoreQ5Codes(q, out + 2, out + 6);
  }
}

void QuantizeRowQ5_1(const float* x, void* dst, int64_t n) {
  CheckBlocks(n, "QuantizeRowQ5_1");
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += 24) {
    float min = x[0], max = x[0];
    for (int j = 1; j < kQK; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreHalfAt(out, d);
    StoreHalfAt(out + 2, min);
    int q[kQK];
    for (int j = 0; j < kQK; ++j) {
      q[j] = std::min(31, static_cast<int>(static_cast<int8_t>((x[j] - min) * id + 0.5f)));
    }
    StoreQ5Codes(q, out + 4, out + 8);
  }
}

std::vector<uint8_t> QuantizeRow(GgmlType type, const float* x, int64_t n) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  if (info == nullptr || n < 0 || n % info->block_elems != 0) {
    throw std::invalid_argument("QuantizeRow: bad type or n=" + std::to_string(n) + " for " +
                                GgmlTypeName(static_cast<uint32_t>(type)));
  }
  std::vector<uint8_t> out(static_cast<size_t>(n / info->block_elems * info->block_bytes));
  switch (type) {
    case GgmlType::kF32:
      if (n > 0) std::memcpy(out.data(), x, out.size());
      break;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) StoreHalfAt(out.data() + 2 * i, x[i]);
      break;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t v = FloatToBf16(x[i]);
        std::memcpy(out.data() + 2 * i, &v, sizeof(v));
      }
      break;
    case GgmlType::kQ8_0:
      QuantizeRowQ8_0(x, out.data(), n);
      break;
    case GgmlType::kQ4_0:
      QuantizeRowQ4_0(x, out.data(), n);
      break;
    case GgmlType::kQ4_1:
      QuantizeRowQ4_1(x, out.data(), n);
      break;
    case GgmlType::kQ5_0:
      QuantizeRowQ5_0(x, out.data(), n);
      break;
    case GgmlType::kQ5_1:
      QuantizeRowQ5_1(x, out.data(), n);
      break;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return EncodeKQuantRow(type, x, n);
    default:
      throw std::invalid_argument("QuantizeRow: no test quantizer for " +
                                  GgmlTypeName(static_cast<uint32_t>(type)));
  }
  return out;
}

}  // namespace xq::test
