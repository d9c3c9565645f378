// Scheduler tests with a fake model runner and no model: the plans are checked exactly, the KV
// manager's block accounting is the real one, and the fake runner checks that each step's
// BatchInputs describe the planned chunks before "computing" them.
#include "engine/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <random>

namespace xq {
namespace {

constexpr int64_t kBlock = 8;
constexpr int64_t kLayers = 2, kKvHeads = 2, kHeadDim = 16;

// fp16 blocks by default: a window block is then exactly one page, which keeps the expected
// plans easy to follow.
std::unique_ptr<KvCacheManager> MakeKv(int64_t recent_window, int32_t num_blocks,
                                       int bits = kFp16Bits, bool prefix_caching = false) {
  std::vector<KvLayerSpec> specs(kLayers);
  for (KvLayerSpec& s : specs) {
    const float eta = bits == kFp16Bits ? 0.0f : 0.045f;
    s.k = {bits, false, eta};
    s.v = {bits, false, eta};
  }
  const KvBlockLayout layout = MakeKvBlockLayout(kKvHeads, kHeadDim, kBlock, specs.data(), kLayers);
  return std::make_unique<KvCacheManager>(layout, recent_window, num_blocks, prefix_caching,
                                          "test");
}

class FakeRunner {
 public:
  // Checks the plan's inputs, completes the step, then samples token 7 for every chunk that
  // asks.
  void Run(Scheduler& s, const StepPlan& plan) {
    const BatchInputs& in = plan.inputs;
    ASSERT_EQ(in.num_seqs(), static_cast<int64_t>(plan.chunks.size()));
    ASSERT_EQ(in.num_tokens(), plan.num_tokens);
    int64_t logits_rows = 0;
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
      const ScheduledChunk& chunk = plan.chunks[i];
      const Sequence* seq = s.Find(chunk.seq_id);
      ASSERT_NE(seq, nullptr);
      ASSERT_EQ(chunk.start, seq->num_computed);
      ASSERT_EQ(seq->kv.length, seq->num_computed);
      ASSERT_EQ(in.qo_indptr[i + 1] - in.qo_indptr[i], chunk.num_tokens);
      ASSERT_EQ(in.kv_len[i], chunk.start + chunk.num_tokens);
      for (int64_t t = 0; t < chunk.num_tokens; ++t) {
        ASSERT_EQ(in.tokens[in.qo_indptr[i] + t], seq->tokens[chunk.start + t]);
        ASSERT_EQ(in.positions[in.qo_indptr[i] + t], chunk.start + t);
      }
      if (chunk.sample) {
        ASSERT_EQ(in.logits_rows.at(logits_rows++), in.qo_indptr[i + 1] - 1);
      }
    }
    ASSERT_EQ(static_cast<int64_t>(in.logits_rows.size()), logits_rows);
    s.Complete(plan);
    for (const ScheduledChunk& chunk : plan.chunks) {
      if (chunk.sample) s.Find(chunk.seq_id)->tokens.push_back(7);
    }
  }
};

std::unique_ptr<Sequence> MakeSeq(int64_t id, int64_t prompt, int32_t priority = 0,
                                  int32_t first_token = 0) {
  auto s = std::make_unique<Sequence>();
  s->id = id;
  s->arrival = id;
  s->priority = priority;
  for (int64_t i = 0; i < prompt; ++i) s->tokens.push_back(first_token + static_cast<int32_t>(i));
  s->prompt_tokens = prompt;
  return s;
}

class SchedulerTest : public ::testing::Test {
 protected:
  FakeRunner runner;
};

TEST_F(SchedulerTest, ChunksPromptsAndAdmitsWithinTheTokenBudget) {
  auto kv = MakeKv(0, 64);
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 16}, *kv);
  s.Add(MakeSeq(1, 20));
  s.Add(MakeSeq(2, 5));

  StepPlan p1 = s.Schedule();
  EXPECT_EQ(p1.chunks, (std::vector<ScheduledChunk>{{1, 0, 16, false}}));
  EXPECT_EQ(p1.admitted, std::vector<int64_t>{1});
  EXPECT_EQ(p1.num_tokens, 16);
  runner.Run(s, p1);

  StepPlan p2 = s.Schedule();
  EXPECT_EQ(p2.chunks, (std::vector<ScheduledChunk>{{1, 16, 4, true}, {2, 0, 5, true}}));
  runner.Run(s, p2);

  // Both decode: one token each, running order first.
  StepPlan p3 = s.Schedule();
  EXPECT_EQ(p3.chunks, (std::vector<ScheduledChunk>{{1, 20, 1, true}, {2, 5, 1, true}}));
  runner.Run(s, p3);
  EXPECT_EQ(s.Find(1)->tokens.size(), 22u);
}

TEST_F(SchedulerTest, PromptTokensAreHeldToTheAllowanceOnlyWhileOthersDecode) {
  auto kv = MakeKv(0, 64);
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 32}, *kv);
  s.Add(MakeSeq(1, 4));
  s.Add(MakeSeq(2, 4));
  // Nobody decodes yet: the allowance does not apply, both prompts go in whole.
  StepPlan p1 = s.Schedule(/*prefill_with_decodes=*/1);
  EXPECT_EQ(p1.chunks, (std::vector<ScheduledChunk>{{1, 0, 4, true}, {2, 0, 4, true}}));
  EXPECT_EQ(p1.decode_tokens, 0);
  runner.Run(s, p1);

  // 1 and 2 decode (never limited); the new prompt and its admission get 5 tokens in all.
  s.Add(MakeSeq(3, 20));
  StepPlan p2 = s.Schedule(5);
  EXPECT_EQ(p2.chunks,
            (std::vector<ScheduledChunk>{{1, 4, 1, true}, {2, 4, 1, true}, {3, 0, 5, false}}));
  EXPECT_EQ(p2.decode_tokens, 2);
  EXPECT_EQ(p2.num_tokens, 7);
  runner.Run(s, p2);

  // A running prompt's next chunk is held too; a second waiting prompt gets what is left.
  s.Add(MakeSeq(4, 3));
  StepPlan p3 = s.Schedule(8);
  EXPECT_EQ(p3.chunks, (std::vector<ScheduledChunk>{
                           {1, 5, 1, true}, {2, 5, 1, true}, {3, 5, 8, false}}));
  runner.Run(s, p3);
  StepPlan p4 = s.Schedule(10);
  EXPECT_EQ(p4.chunks, (std::vector<ScheduledChunk>{{1, 6, 1, true},
                                                    {2, 6, 1, true},
                                                    {3, 13, 7, true},
                                                    {4, 0, 3, true}}));
  EXPECT_EQ(p4.decode_tokens, 2);
}

TEST_F(SchedulerTest, PromptsGetAtLeastAsManyTokensAsThereAreDecodes) {
  auto kv = MakeKv(0, 64);
  Scheduler s({.max_num_seqs = 8, .max_num_batched_tokens = 64}, *kv);
  for (int64_t id = 1; id <= 3; ++id) s.Add(MakeSeq(id, 4));
  runner.Run(s, s.Schedule());
  s.Add(MakeSeq(4, 20));
  StepPlan p = s.Schedule(/*prefill_with_decodes=*/1);
  EXPECT_EQ(p.decode_tokens, 3);
  EXPECT_EQ(p.chunks.back(), (ScheduledChunk{4, 0, 3, false}));
}

TEST_F(SchedulerTest, RespectsMaxNumSeqsAndPriority) {
  auto kv = MakeKv(0, 64);
  Scheduler s({.max_num_seqs = 2, .max_num_batched_tokens = 64}, *kv);
  s.Add(MakeSeq(1, 4));
  s.Add(MakeSeq(2, 4, /*priority=*/5));
  s.Add(MakeSeq(3, 4, /*priority=*/-1));  // most urgent

  StepPlan p1 = s.Schedule();
  EXPECT_EQ(p1.chunks, (std::vector<ScheduledChunk>{{3, 0, 4, true}, {1, 0, 4, true}}));
  EXPECT_EQ(s.Stats().waiting, 1);
  runner.Run(s, p1);
  s.Remove(3);  // finished: its slot goes to the next in line
  StepPlan p2 = s.Schedule();
  EXPECT_EQ(p2.chunks, (std::vector<ScheduledChunk>{{1, 4, 1, true}, {2, 0, 4, true}}));
}

TEST_F(SchedulerTest, CopiesOfOneRequestReserveTheirSlots) {
  auto kv = MakeKv(0, 64);
  Scheduler s({.max_num_seqs = 3, .max_num_batched_tokens = 64}, *kv);
  auto a = MakeSeq(1, 4);
  a->copies = 2;
  s.Add(std::move(a));
  s.Add(MakeSeq(2, 4));
  s.Add(MakeSeq(3, 4));  // no slot left: 2 + 1 already taken
  StepPlan p = s.Schedule();
  EXPECT_EQ(p.admitted, (std::vector<int64_t>{1, 2}));
}

TEST_F(SchedulerTest, PreemptsTheNewestWhenBlocksRunOutAndResumesIt) {
  // No recent window; each 12-token prompt takes 1 compressed block and 2 for its window while
  // it is appended: 6 blocks in all.
  auto kv = MakeKv(0, 6);
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 64}, *kv);
  s.Add(MakeSeq(1, 12));
  s.Add(MakeSeq(2, 12));
  for (int step = 0; step < 5; ++step) runner.Run(s, s.Schedule());  // both reach 16 tokens
  ASSERT_EQ(s.Find(1)->num_computed, 16);
  ASSERT_EQ(s.Find(2)->num_computed, 16);
  EXPECT_EQ(kv->pool().Stats().used_blocks, 4);

  // Up to 23 tokens nothing new is needed; the 24th fills a third block for each.
  for (int step = 0; step < 7; ++step) {
    StepPlan p = s.Schedule();
    EXPECT_TRUE(p.preempted.empty());
    runner.Run(s, p);
  }
  StepPlan p = s.Schedule();
  EXPECT_EQ(p.preempted, std::vector<int64_t>{2});
  EXPECT_EQ(p.chunks, (std::vector<ScheduledChunk>{{1, 23, 1, true}}));
  EXPECT_TRUE(p.admitted.empty());  // no admission in a step that preempted
  EXPECT_EQ(s.Stats().preemptions, 1);
  EXPECT_EQ(s.Find(2)->status, SequenceStatus::kWaiting);
  EXPECT_EQ(s.Find(2)->num_computed, 0);
  EXPECT_EQ(s.Find(2)->tokens.size(), 24u);  // its generated tokens are kept for recompute
  runner.Run(s, p);

  // Once the first finishes, the second recomputes everything it had, in one chunk.
  s.Remove(1);
  StepPlan resume = s.Schedule();
  EXPECT_EQ(resume.chunks, (std::vector<ScheduledChunk>{{2, 0, 24, true}}));
  runner.Run(s, resume);
  s.Remove(2);
  EXPECT_EQ(kv->pool().Stats().used_blocks, 0);
  EXPECT_EQ(kv->pool().CheckInvariants(), "");
}

TEST_F(SchedulerTest, APromptIsAdmittedOnlyWhenAllOfItFits) {
  auto kv = MakeKv(0, 8);
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 16}, *kv);
  s.Add(MakeSeq(1, 12));
  runner.Run(s, s.Schedule());  // holds 1 compressed block and 1 for its window: 6 free
  // 48 tokens need 6 compressed blocks, and 2 for the window of a 16-token chunk: 8 > 6, even
  // though the first chunk alone would fit.
  s.Add(MakeSeq(2, 48));
  StepPlan p = s.Schedule();
  EXPECT_EQ(p.chunks, (std::vector<ScheduledChunk>{{1, 12, 1, true}}));
  runner.Run(s, p);
  s.Remove(1);
  EXPECT_EQ(s.Schedule().chunks, (std::vector<ScheduledChunk>{{2, 0, 16, false}}));
}

TEST_F(SchedulerTest, ASequenceThatCannotGrowPreemptsItself) {
  auto kv = MakeKv(0, 3);
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 64}, *kv);
  s.Add(MakeSeq(1, 15));
  // Up to 23 tokens: two compressed blocks and one for the window; the 24th needs a fourth.
  while (s.Find(1)->num_computed < 23) runner.Run(s, s.Schedule());
  StepPlan p = s.Schedule();
  EXPECT_EQ(p.preempted, std::vector<int64_t>{1});
  EXPECT_TRUE(p.empty());
}

TEST_F(SchedulerTest, ForkSharesBlocks) {
  auto kv = MakeKv(0, 16);
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 64}, *kv);
  auto a = MakeSeq(1, 20);
  a->copies = 2;
  s.Add(std::move(a));
  runner.Run(s, s.Schedule());
  std::vector<BlockCopy> copies;
  Sequence& child = s.Fork(1, 2, copies);
  EXPECT_EQ(child.num_computed, 20);
  EXPECT_EQ(child.kv.blocks, s.Find(1)->kv.blocks);
  for (int32_t b : child.kv.blocks) EXPECT_EQ(kv->pool().RefCount(b), 2);
  // The partial last window block (positions 16..19) is the copy's own, copied from the parent.
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, s.Find(1)->kv.window_pages[0]);
  EXPECT_EQ(copies[0].dst, child.kv.window_pages[0]);
  EXPECT_NE(copies[0].src, copies[0].dst);
  StepPlan p = s.Schedule();
  EXPECT_EQ(p.chunks, (std::vector<ScheduledChunk>{{1, 20, 1, true}, {2, 20, 1, true}}));
  runner.Run(s, p);
  s.Remove(1);
  s.Remove(2);
  EXPECT_EQ(kv->pool().Stats().used_blocks, 0);
}

TEST_F(SchedulerTest, ACopyWithoutRoomForItsWindowQueuesToRecompute) {
  // A 20-token prompt in 4-token chunks ends holding 2 compressed blocks and 1 window block.
  auto kv = MakeKv(0, 3);
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 4}, *kv);
  auto a = MakeSeq(1, 20);
  a->copies = 2;
  s.Add(std::move(a));
  while (s.Find(1)->num_computed < 20) runner.Run(s, s.Schedule());
  ASSERT_EQ(kv->pool().Stats().free_blocks, 0);
  std::vector<BlockCopy> copies;
  Sequence& child = s.Fork(1, 2, copies);
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(child.status, SequenceStatus::kWaiting);
  EXPECT_EQ(child.num_computed, 0);
  EXPECT_EQ(child.tokens, s.Find(1)->tokens);
  EXPECT_EQ(s.Stats().waiting, 1);
  s.Remove(1);
  StepPlan p = s.Schedule();
  EXPECT_EQ(p.admitted, std::vector<int64_t>{2});
}

class PrefixSchedulerTest : public SchedulerTest, public ::testing::WithParamInterface<int64_t> {};

TEST_P(PrefixSchedulerTest, ReusesTheBlocksOfAFinishedPrompt) {
  const int64_t recent_window = GetParam();
  auto kv = MakeKv(recent_window, 64, /*bits=*/2, /*prefix_caching=*/true);
  const PrefixCache& prefix = *kv->prefix_cache();
  Scheduler s({.max_num_seqs = 4, .max_num_batched_tokens = 64}, *kv);
  s.Add(MakeSeq(1, 40));
  runner.Run(s, s.Schedule());
  s.Remove(1);

  // Same 40 tokens and 5 more: all 5 full blocks are reused.
  auto b = MakeSeq(2, 45);
  s.Add(std::move(b));
  StepPlan p = s.Schedule();
  EXPECT_EQ(p.chunks, (std::vector<ScheduledChunk>{{2, 40, 5, true}}));
  EXPECT_EQ(s.Find(2)->num_cached, 40);
  runner.Run(s, p);

  // A prompt that differs inside block 2 reuses blocks 0 and 1 only, and only if a fresh run
  // would hold them compressed or their fp16 window copies exist.
  auto c = MakeSeq(3, 30);
  c->tokens[20] = 999;
  s.Add(std::move(c));
  StepPlan pc = s.Schedule();
  ASSERT_EQ(pc.chunks.size(), 2u);
  EXPECT_EQ(pc.chunks[1].seq_id, 3);
  EXPECT_EQ(pc.chunks[1].start, 16);
  runner.Run(s, pc);

  // A prompt that is fully cached still computes its last token.
  s.Add(MakeSeq(4, 16));
  StepPlan pd = s.Schedule();
  EXPECT_EQ(pd.chunks.back(), (ScheduledChunk{4, 8, 8, true}));

  EXPECT_EQ(prefix.Stats().queries, 40 + 45 + 30 + 16);
  EXPECT_EQ(prefix.Stats().hits, 40 + 16 + 8);
  for (int64_t id : {2, 3, 4}) s.Remove(id);
  EXPECT_EQ(kv->pool().Stats().used_blocks, 0);
  EXPECT_EQ(kv->CheckInvariants(), "");
}

INSTANTIATE_TEST_SUITE_P(RecentWindow, PrefixSchedulerTest, ::testing::Values(0, 16));

}  // namespace
}  // namespace xq
