// Teacher-forced quality evaluation of KV cache profiles against a baseline cache: the text runs
// through the real forward path in prefill chunks (which, by the frontier rule, sees exactly what
// token-by-token decoding would see), and every profile is compared position by position with
// the baseline: perplexity, KL(baseline || profile) and top-1 agreement, overall and where the
// baseline's choice is clear. The baseline may run on another device (the CUDA runner against
// the CPU's).
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
  // Positions where the baseline's best token leads its second by at least this much (nats)
  // are "clear": a profile, or another device, has no near-tie there to excuse a different top-1.
  double clear_gap = 0.15;
};

struct TeacherForcedResult {
  std::string profile;
  int64_t tokens_scored = 0;
  double ppl = 0.0;
  double ppl_baseline = 0.0;
  double kl_vs_baseline = 0.0;        // mean over scored positions, nats
  double top1_agreement = 0.0;        // argmax equal to the baseline's
  int64_t clear_positions = 0;        // scored positions with the baseline's top-2 gap >= clear_gap
  double top1_agreement_clear = 0.0;  // top1_agreement over those (1 when there are none)
};

// tokens: the text; the prediction at position t is scored against tokens[t + 1].
std::vector<TeacherForcedResult> EvaluateTeacherForced(const Model& model,
                                                       const std::vector<int32_t>& tokens,
                                                       KvBackend& baseline,
                                                       const std::vector<KvBackend*>& profiles,
                                                       const TeacherForcedOptions& options);

}  // namespace xq
