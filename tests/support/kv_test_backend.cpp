#include "tests/support/kv_test_backend.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <span>

#include "engine/runner/cpu_model_runner.h"
#include "engine/step/batch_builder.h"
#include "engine/step/solo_sequence.h"

namespace xq::test {

std::vector<KvLayerSpec> UniformSpecs(int64_t layers, int k_bits, int v_bits, bool share_v,
                                      float eta) {
  std::vector<KvLayerSpec> specs(layers);
  for (int64_t l = 0; l < layers; ++l) {
    specs[l].k = {k_bits, false, k_bits == kFp16Bits ? 0.0f : eta};
    specs[l].v = {v_bits, share_v && l % 2 == 1, v_bits == kFp16Bits ? 0.0f : eta};
  }
  return specs;
}

KvBackend MakeTestBackend(const Model& m, const std::vector<KvLayerSpec>& specs,
                          int64_t block_tokens, int64_t recent_window, int32_t blocks,
                          bool prefix_caching, int64_t sink_blocks) {
  KvBackend b;
  b.name = "test";
  b.plan.layout = MakeKvBlockLayout(m.config.num_kv_heads, m.config.head_dim, block_tokens,
                                    specs.data(), static_cast<int64_t>(specs.size()));
  b.plan.layout.sink_blocks = sink_blocks;
  b.plan.recent_window = recent_window;
  b.plan.budget.num_blocks = blocks;
  b.runner = std::make_unique<CpuModelRunner>(m);
  b.runner->AllocateKv({b.plan.layout, recent_window, blocks});
  b.kv = std::make_unique<KvCacheManager>(b.plan.layout, recent_window, blocks, prefix_caching,
                                          "test");
  return b;
}

std::vector<float> RunTokens(KvBackend& backend, const std::vector<int32_t>& tokens,
                             int64_t chunk) {
  SoloSequence seq(*backend.runner, *backend.kv);
  std::vector<float> all;
  for (size_t s = 0; s < tokens.size(); s += chunk) {
    const int64_t len = std::min<int64_t>(chunk, static_cast<int64_t>(tokens.size() - s));
    std::vector<int64_t> rows(len);
    std::iota(rows.begin(), rows.end(), 0);
    const auto& logits = seq.Append(std::span<const int32_t>(tokens).subspan(s, len), rows);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

void RunStep(KvBackend& backend, const std::vector<SequenceKv*>& seqs,
             const std::vector<std::span<const int32_t>>& chunks, const std::vector<int64_t>& rows,
             std::vector<float>& logits) {
  BatchInputs in;
  in.Clear();
  for (size_t i = 0; i < seqs.size(); ++i) {
    backend.kv->Reserve(*seqs[i], static_cast<int64_t>(chunks[i].size()));
    AppendSequence(in, *backend.kv, *seqs[i], chunks[i], LogitRows::kNone);
  }
  in.logits_rows = rows;
  backend.runner->Execute(in, logits);
  for (size_t i = 0; i < seqs.size(); ++i) {
    backend.kv->Commit(*seqs[i], static_cast<int64_t>(chunks[i].size()));
  }
}

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

}  // namespace xq::test
