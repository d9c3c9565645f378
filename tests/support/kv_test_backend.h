// Test helpers for running tiny models through the real runner and KV manager: layer specs of
// one bit-width, a backend with an exact number of pool blocks, and all-position logits of a
// token list fed in chunks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/step/kv_backend.h"

namespace xq::test {

// Every layer K k_bits / V v_bits; odd layers share the value codes of the layer below.
std::vector<KvLayerSpec> UniformSpecs(int64_t layers, int k_bits, int v_bits, bool share_v = false,
                                      float eta = 0.0f);

// A CPU runner and KV manager with exactly `blocks` pool blocks (and `sink_blocks` attention
// sinks).
KvBackend MakeTestBackend(const Model& m, const std::vector<KvLayerSpec>& specs,
                          int64_t block_tokens, int64_t recent_window, int32_t blocks = 256,
                          bool prefix_caching = false, int64_t sink_blocks = 0);

// Logits of every position, [tokens, vocab], feeding one fresh sequence `chunk` tokens a time.
std::vector<float> RunTokens(KvBackend& backend, const std::vector<int32_t>& tokens, int64_t chunk);

// One step of several sequences through the real KV manager and batch builder: sequence i
// appends chunks[i]; `rows` (indices into the step's tokens) get logits.
void RunStep(KvBackend& backend, const std::vector<SequenceKv*>& seqs,
             const std::vector<std::span<const int32_t>>& chunks, const std::vector<int64_t>& rows,
             std::vector<float>& logits);

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint32_t seed = 5);

}  // namespace xq::test
