// GGML tensor types as GGUF files store them: ids, block sizes and bytes per block.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/include/ggml_type.h"

namespace xq {

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
