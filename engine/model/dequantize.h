// Dequantization of GGML blocks to fp32 (scalar reference; runs once at load time).
#pragma once

#include <cstdint>

#include "engine/model/ggml_types.h"

namespace xq {

// Dequantizes n elements (a multiple of the type's block size) from src to dst.
// Supports every type whose GgmlTypeInfo::dequantizable is true.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

}  // namespace xq
