#include "engine/step/kv_backend.h"

#include <utility>

namespace xq {

KvBackend MakeKvBackend(const Model& model, const KvProfile& profile, int64_t budget_bytes,
                        int64_t max_chunk_tokens, std::unique_ptr<ModelRunner> runner) {
  const ModelConfig& c = model.config;
  KvBackend b;
  b.name = profile.name;
  b.plan = PlanKvCache(profile, c.num_layers, c.num_kv_heads, c.head_dim, budget_bytes,
                       max_chunk_tokens);
  b.runner = std::move(runner);
  b.runner->AllocateKv({b.plan.layout, b.plan.recent_window, b.plan.budget.num_blocks});
  b.kv = std::make_unique<KvCacheManager>(b.plan.layout, b.plan.recent_window,
                                          b.plan.budget.num_blocks, /*prefix_caching=*/false,
                                          profile.name);
  return b;
}

}  // namespace xq
