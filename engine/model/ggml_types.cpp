#include "engine/model/ggml_types.h"

namespace xq {

const GgmlTypeInfo* FindGgmlType(uint32_t type_id) {
  // Block sizes follow ggml: QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = 32, QK_K = 256.
  static const GgmlTypeInfo kF32{"F32", 1, 4, true}, kF16{"F16", 1, 2, true},
      kBF16{"BF16", 1, 2, true}, kQ4_0{"Q4_0", 32, 18, true}, kQ4_1{"Q4_1", 32, 20, true},
      kQ5_0{"Q5_0", 32, 22, true}, kQ5_1{"Q5_1", 32, 24, true}, kQ8_0{"Q8_0", 32, 34, true},
      kQ8_1{"Q8_1", 32, 36, false}, kQ2_K{"Q2_K", 256, 84, false},
      kQ3_K{"Q3_K", 256, 110, false}, kQ4_K{"Q4_K", 256, 144, true},
      kQ5_K{"Q5_K", 256, 176, true}, kQ6_K{"Q6_K", 256, 210, true},
      kQ8_K{"Q8_K", 256, 292, false};
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::kF32: return &kF32;
    case GgmlType::kF16: return &kF16;
    case GgmlType::kBF16: return &kBF16;
    case GgmlType::kQ4_0: return &kQ4_0;
    case GgmlType::kQ4_1: return &kQ4_1;
    case GgmlType::kQ5_0: return &kQ5_0;
    case GgmlType::kQ5_1: return &kQ5_1;
    case GgmlType::kQ8_0: return &kQ8_0;
    case GgmlType::kQ8_1: return &kQ8_1;
    case GgmlType::kQ2_K: return &kQ2_K;
    case GgmlType::kQ3_K: return &kQ3_K;
    case GgmlType::kQ4_K: return &kQ4_K;
    case GgmlType::kQ5_K: return &kQ5_K;
    case GgmlType::kQ6_K: return &kQ6_K;
    case GgmlType::kQ8_K: return &kQ8_K;
  }
  return nullptr;
}

std::string GgmlTypeName(uint32_t type_id) {
  const GgmlTypeInfo* info = FindGgmlType(type_id);
  return info ? info->name : "type#" + std::to_string(type_id);
}

}  // namespace xq
