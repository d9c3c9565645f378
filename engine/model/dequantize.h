// Dequantization of GGML blocks to fp32 (scalar reference; runs once at load time).
#pragma once

#include <cstdint>

#include "engine/model/ggml_types.h"
#include "engine/model/model_weights.h"

namespace xq {

// Dequantizes n elements (a multiple of the type's block size) from src to dst.
// Supports every type whose GgmlTypeInfo::dequantizable is true.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

// Row `row` of a matrix as fp32 (cols floats): copied, or dequantized from GGML blocks in either
// layout (file order or packed for the CPU kernels).
void DequantizeMatrixRow(const Tensor& t, int64_t row, float* dst);

}  // namespace xq
