// KvBackend: a model runner with its KV cache (storage allocated, manager over it) for one KV
// profile: what evaluation, benchmarks and tests run sequences on (SoloSequence).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/kv/kv_budget.h"
#include "engine/kv/kv_cache_manager.h"
#include "engine/kv/kv_profile.h"
#include "engine/model/model_weights.h"
#include "engine/runner/model_runner.h"

namespace xq {

struct KvBackend {
  std::string name;  // the profile's
  KvPlan plan;
  std::unique_ptr<ModelRunner> runner;
  std::unique_ptr<KvCacheManager> kv;
};

// `runner` (for `model`) with `budget_bytes` of KV memory allocated for `profile`, prefix
// caching off; one sequence may append max_chunk_tokens at once. Throws xq::Error when the
// profile or budget does not fit.
KvBackend MakeKvBackend(const Model& model, const KvProfile& profile, int64_t budget_bytes,
                        int64_t max_chunk_tokens, std::unique_ptr<ModelRunner> runner);

}  // namespace xq
