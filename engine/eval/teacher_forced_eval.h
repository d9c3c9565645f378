// Teacher-forced quality evaluation of KV cache profiles against a baseline cache: the text runs
// through the real forward path in prefill chunks (which, by the frontier rule, sees exactly what
// token-by-token decoding would see), and every profile is compared position by position with
// the baseline: perplexity, KL(baseline || profile) and top-1 agreement.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/step/kv_backend.h"

namespace xq {

struct TeacherForcedOptions {
  int64_t score_from = 0;  // positions before this are context only (e.g. R + G)
  int64_t chunk = 256;     // prefill chunk size
};

struct TeacherForcedResult {
  std::string profile;
  int64_t tokens_scored = 0;
  double ppl = 0.0;
  double ppl_baseline = 0.0;
  double kl_vs_baseline = 0.0;  // mean over scored positions, nats
  double top1_agreement = 0.0;  // argmax equal to the baseline's
};

// tokens: the text; the prediction at position t is scored against tokens[t + 1].
std::vector<TeacherForcedResult> EvaluateTeacherForced(const Model& model,
                                                       const std::vector<int32_t>& tokens,
                                                       KvBackend& baseline,
                                                       const std::vector<KvBackend*>& profiles,
                                                       const TeacherForcedOptions& options);

}  // namespace xq
