// GGML tensor types as GGUF files store them: ids, block sizes and bytes per block.
#pragma once

#include <cstdint>
#include <string>

namespace xq {

// Values are GGUF's on-disk type ids (ggml_type).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

struct GgmlTypeInfo {
  const char* name;
  int64_t block_elems;  // elements per block (1 for float types)
  int64_t block_bytes;  // bytes per block
  bool dequantizable;   // DequantizeRow supports it
};

// nullptr for a type id this project does not know.
const GgmlTypeInfo* FindGgmlType(uint32_t type_id);
std::string GgmlTypeName(uint32_t type_id);  // "Q4_1", or "type#123" when unknown

}  // namespace xq
