// The paged XQuant cache inside the real forward pass (tiny random model): fp16 blocks match the
// contiguous reference cache, chunking never changes results (the frontier rule), blocks are
// allocated and returned exactly, running out is reported, and quantization costs what it should.
#include "engine/kv/paged_kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/model/contiguous_kv_cache.h"
#include "engine/model/transformer.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

constexpr int64_t kBlock = 8;  // the tiny model's head_dim is 16

std::vector<KvLayerSpec> Uniform(int64_t layers, int k_bits, int v_bits, bool share_v = false,
                                 float eta = 0.0f) {
  std::vector<KvLayerSpec> specs(layers);
  for (int64_t l = 0; l < layers; ++l) {
    specs[l].k = {k_bits, false, k_bits == kFp16Bits ? 0.0f : eta};
    specs[l].v = {v_bits, share_v && l % 2 == 1, v_bits == kFp16Bits ? 0.0f : eta};
  }
  return specs;
}

std::unique_ptr<PagedKvCache> MakeCache(const Model& m, const std::vector<KvLayerSpec>& specs,
                                        int64_t recent_window, int32_t blocks = 64) {
  return std::make_unique<PagedKvCache>(
      m.config, MakeKvBlockLayout(m.config.num_kv_heads, m.config.head_dim, kBlock, specs),
      recent_window, blocks, "test");
}

std::vector<int32_t> Tokens(int64_t n, int64_t vocab, uint32_t seed = 5) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

// All-position logits of the tokens fed in chunks of `chunk` into `cache`.
std::vector<float> RunTokens(const Model& m, SequenceKvCache& cache,
                             const std::vector<int32_t>& tokens, int64_t chunk) {
  Transformer tr(m);
  std::vector<float> all, logits;
  for (size_t s = 0; s < tokens.size(); s += chunk) {
    const int64_t len = std::min<int64_t>(chunk, tokens.size() - s);
    ForwardBatch b;
    b.tokens.assign(tokens.begin() + s, tokens.begin() + s + len);
    for (int64_t i = 0; i < len; ++i) {
      b.positions.push_back(static_cast<int32_t>(s + i));
      b.logits_rows.push_back(i);
    }
    b.sequences = {{&cache, len}};
    tr.Forward(b, logits);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    d = std::max(d, double(std::fabs(a[i] - b[i])));
  return d;
}

TEST(PagedKvCache, Fp16BlocksMatchTheContiguousCache) {
  const Model m = test::MakeTinyModel({.architecture = "qwen2"});
  const auto tokens = Tokens(61, m.config.vocab_size);
  ContiguousKvCache reference(m.config, 64);
  const auto want = RunTokens(m, reference, tokens, 1);
  auto paged = MakeCache(m, Uniform(m.config.num_layers, kFp16Bits, kFp16Bits), 0);
  auto seq = paged->NewSequence(64);
  EXPECT_LT(MaxDiff(RunTokens(m, *seq, tokens, 1), want), 1e-4);
}

TEST(PagedKvCache, ChunkingDoesNotChangeResults) {
  const Model m = test::MakeTinyModel();
  const auto tokens = Tokens(70, m.config.vocab_size);
  for (int bits : {1, 2, 4, 8}) {
    auto cache = MakeCache(m, Uniform(m.config.num_layers, bits, bits, true, 0.1f), 16);
    auto one = cache->NewSequence(70);
    const auto by_token = RunTokens(m, *one, tokens, 1);
    for (int64_t chunk : {5, 16, 70}) {
      auto seq = cache->NewSequence(70);
      EXPECT_LT(MaxDiff(RunTokens(m, *seq, tokens, chunk), by_token), 1e-5)
          << bits << " bits, chunk " << chunk;
    }
  }
}

TEST(PagedKvCache, AllocatesBlocksAsTokensLeaveTheWindowAndReturnsThem) {
  const Model m = test::MakeTinyModel();
  auto cache = MakeCache(m, Uniform(m.config.num_layers, 2, 2), /*recent_window=*/16);
  {
    auto seq = cache->NewSequence(100);
    auto* paged = static_cast<PagedSequenceCache*>(seq.get());
    RunTokens(m, *seq, Tokens(45, m.config.vocab_size), 9);
    // 45 tokens, R = 16, G = 8: positions [0, 24) are compressed in 3 blocks, 21 stay fp16 and
    // are charged whole blocks of the same pool.
    EXPECT_EQ(paged->length(), 45);
    EXPECT_EQ(paged->window_start(), 24);
    EXPECT_EQ(paged->block_table().size(), 3u);
    const int64_t charge = cache->WindowCharge(21);
    EXPECT_EQ(charge, (21 * 256 + cache->layout().block_bytes - 1) / cache->layout().block_bytes);
    EXPECT_EQ(paged->held_blocks(), 3 + charge);
    EXPECT_EQ(cache->pool().Stats().used_blocks, 3 + charge);
    EXPECT_EQ(cache->pool().CheckInvariants(), "");
  }
  EXPECT_EQ(cache->pool().Stats().used_blocks, 0);
  EXPECT_EQ(cache->pool().CheckInvariants(), "");
}

TEST(PagedKvCache, RunningOutIsReportedAndNothingIsCommitted) {
  const Model m = test::MakeTinyModel();
  const auto specs = Uniform(m.config.num_layers, 2, 2);
  // Exactly what a 24-token prompt takes at its peak: 2 compressed blocks (frontier 16 with R = 8)
  // and the charge of 24 window rows while they are appended.
  const int32_t peak = static_cast<int32_t>(2 + MakeCache(m, specs, 8)->WindowCharge(24));
  auto cache = MakeCache(m, specs, 8, peak);
  auto seq = cache->NewSequence(100);
  RunTokens(m, *seq, Tokens(24, m.config.vocab_size), 24);
  const int64_t held = 2 + cache->WindowCharge(8);  // the window shrank back to 8 rows
  EXPECT_EQ(cache->pool().Stats().used_blocks, held);
  Transformer tr(m);
  ForwardBatch b;
  b.tokens = Tokens(24, m.config.vocab_size, 9);
  for (int i = 0; i < 24; ++i) b.positions.push_back(24 + i);
  b.sequences = {{seq.get(), 24}};
  b.logits_rows = {23};
  std::vector<float> logits;
  EXPECT_THROW(tr.Forward(b, logits), KvCacheFull);
  EXPECT_EQ(seq->length(), 24);
  EXPECT_EQ(cache->pool().Stats().used_blocks, held);
  EXPECT_EQ(cache->pool().CheckInvariants(), "");
  // Once the sequence is gone its blocks serve the next one.
  seq.reset();
  EXPECT_EQ(cache->pool().Stats().used_blocks, 0);
  auto again = cache->NewSequence(100);
  RunTokens(m, *again, Tokens(24, m.config.vocab_size, 3), 24);
  EXPECT_EQ(again->length(), 24);
  EXPECT_EQ(cache->pool().Stats().used_blocks, held);
}

TEST(PagedKvCache, FewerBitsDivergeMoreFromFp16) {
  const Model m = test::MakeTinyModel();
  const auto tokens = Tokens(80, m.config.vocab_size, 11);
  auto fp16 = MakeCache(m, Uniform(m.config.num_layers, kFp16Bits, kFp16Bits), 0);
  auto base_seq = fp16->NewSequence(80);
  const auto base = RunTokens(m, *base_seq, tokens, 16);
  double previous = 0.0;
  for (int bits : {8, 4, 2, 1}) {
    auto cache = MakeCache(m, Uniform(m.config.num_layers, bits, bits), 8);
    auto seq = cache->NewSequence(80);
    const double diff = MaxDiff(RunTokens(m, *seq, tokens, 16), base);
    EXPECT_GT(diff, previous) << bits << " bits";
    previous = diff;
  }
  EXPECT_LT(previous, 50.0) << "1-bit is lossy but not garbage";
}

}  // namespace
}  // namespace xq
