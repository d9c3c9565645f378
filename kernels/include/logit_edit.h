// LogitEdit: one change a sequence's sampling parameters make to one token's logit before
// truncation and the draw (a mask, logit bias, the repetition penalty, presence / frequency
// penalties). The CPU sampler and the CUDA kernel apply the same records with the same single
// IEEE operation each (nothing to fuse), so a row edited on either is bitwise the same.
#pragma once

#include <cstdint>

#include "kernels/include/device_safe.h"

namespace xq {

// In the order they apply: all masks, then all biases, and so on. A token appears at most once
// per kind (masks may repeat: they are idempotent), so the edits of one kind commute.
enum class LogitEditKind : int32_t {
  kMask = 0,        // -> -inf
  kBias = 1,        // + value
  kRepetition = 2,  // / value when positive, * value otherwise
  kSubtract = 3,    // - value (presence + frequency * count, computed once on the host)
};
inline constexpr int32_t kLogitEditKinds = 4;

struct LogitEdit {
  int32_t token;
  LogitEditKind kind;
  float value;
};
static_assert(sizeof(LogitEdit) == 12);

XQ_HOST_DEVICE inline float ApplyLogitEdit(float logit, const LogitEdit& e) {
  switch (e.kind) {
    case LogitEditKind::kMask:
      return -__builtin_huge_valf();
    case LogitEditKind::kBias:
      return logit + e.value;
    case LogitEditKind::kRepetition:
      return logit > 0.0f ? logit / e.value : logit * e.value;
    case LogitEditKind::kSubtract:
      return logit - e.value;
  }
  return logit;
}

}  // namespace xq
