// Reference round-to-nearest GGML quantizers (as ggml's quantize_row_*_ref) for building test
// models.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/ggml_types.h"

namespace xq::test {

// n must be a multiple of 32; dst receives n / 32 blocks in GGML's layout.
void QuantizeRowQ8_0(const float* x, void* dst, int64_t n);
void QuantizeRowQ4_0(const float* x, void* dst, int64_t n);
void QuantizeRowQ4_1(const float* x, void* dst, int64_t n);
void QuantizeRowQ5_0(const float* x, void* dst, int64_t n);
void QuantizeRowQ5_1(const float* x, void* dst, int64_t n);

// Encodes n floats as `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, or Q4_K, Q5_K, Q6_K
// through k_quant_encoder.h's round-to-nearest encoder) and returns the raw bytes; throws
// std::invalid_argument for another type or an n that is not a whole number of blocks.
std::vector<uint8_t> QuantizeRow(GgmlType type, const float* x, int64_t n);

}  // namespace xq::test
