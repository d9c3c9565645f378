// Which steps run as CUDA graphs, and their padding to the graph's batch size (host logic).
#include "engine/runner/cuda/graph_batch.h"

#include <gtest/gtest.h>

#include <vector>

namespace xq {
namespace {

// n decoding sequences of 20 positions, window block 0 of each at page s, every row sampled.
BatchInputs Decode(int64_t n) {
  BatchInputs in;
  in.Clear();
  for (int64_t s = 0; s < n; ++s) {
    in.tokens.push_back(static_cast<int32_t>(s + 1));
    in.positions.push_back(19);
    in.qo_indptr.push_back(s + 1);
    in.kv_len.push_back(20);
    in.block_ids.push_back(static_cast<int32_t>(100 + s));
    in.block_indptr.push_back(s + 1);
    in.window_pages.push_back(static_cast<int32_t>(s));
    in.window_indptr.push_back(s + 1);
    in.window_start.push_back(16);
    in.logits_rows.push_back(s);
    in.sampled_rows.push_back(s);
    in.sampled_edit_indptr.push_back(0);
    in.row_sampling.emplace_back();
  }
  return in;
}

TEST(GraphBatch, DecodeStepsPadToTheNextBucket) {
  EXPECT_EQ(GraphBucket(Decode(1)), 1);
  EXPECT_EQ(GraphBucket(Decode(3)), 4);
  EXPECT_EQ(GraphBucket(Decode(13)), 16);
  EXPECT_EQ(GraphBucket(Decode(256)), 256);
  EXPECT_EQ(GraphBucket(Decode(257)), 0) << "beyond the largest bucket";
}

TEST(GraphBatch, ContextLengthsShareAGraphUpToTheNextPowerOfTwo) {
  EXPECT_EQ(GraphContextClass(1), 256);
  EXPECT_EQ(GraphContextClass(256), 256);
  EXPECT_EQ(GraphContextClass(257), 512);
  EXPECT_EQ(GraphContextClass(5000), 8192);
}

TEST(GraphBatch, OneSplitGraphsServeEveryContextLength) {
  // 256 rows x 8 KV heads fill a GPU without splitting: the split covers any length.
  const cuda::AttentionSplit wide = GraphAttentionSplit(256, 8, 300);
  EXPECT_EQ(wide.splits, 1);
  EXPECT_GE(wide.split_tokens, int64_t{1} << 40);
  // One row splits its class (512 positions here) into chunks that cover it.
  const cuda::AttentionSplit narrow = GraphAttentionSplit(1, 8, 300);
  EXPECT_GT(narrow.splits, 1);
  EXPECT_GE(narrow.splits * narrow.split_tokens, 512);
  EXPECT_EQ(GraphAttentionSplit(1, 8, 400).split_tokens, narrow.split_tokens) << "same class";
}

TEST(GraphBatch, OtherStepsRunEagerly) {
  BatchInputs empty;
  empty.Clear();
  EXPECT_EQ(GraphBucket(empty), 0);
  BatchInputs chunk = Decode(2);  // sequence 1 appends two tokens: a prefill chunk
  chunk.tokens.push_back(7);
  chunk.positions.push_back(20);
  chunk.qo_indptr.back() = 3;
  EXPECT_EQ(GraphBucket(chunk), 0);
  BatchInputs returned = Decode(2);  // row 1's logits come back whole
  returned.sampled_rows.pop_back();
  returned.row_sampling.pop_back();
  returned.sampled_edit_indptr.pop_back();
  EXPECT_EQ(GraphBucket(returned), 0);
  BatchInputs raw = Decode(2);  // raw logprobs of a row without edits: the row itself
  raw.row_sampling[1].top_logprobs = 2;
  EXPECT_EQ(GraphBucket(raw), 2);
  raw.row_sampling[1].allowed_tokens = 0;  // masked first: a per-row copy before the mask
  EXPECT_EQ(GraphBucket(raw), 0);
  raw.row_sampling[1].raw_logprobs = 0;  // processed logprobs run in the graph
  EXPECT_EQ(GraphBucket(raw), 2);
  raw.row_sampling[1].raw_logprobs = 1;
  raw.row_sampling[1].allowed_tokens = -1;
  raw.logit_edits.push_back({3, LogitEditKind::kBias, 1.0f});  // an edit on entry 1
  raw.sampled_edit_indptr.back() = 1;
  EXPECT_EQ(GraphBucket(raw), 0);
  BatchInputs jobs = Decode(2);  // more blocks leave than the bucket has sequences
  for (int j = 0; j < 3; ++j) jobs.quantize_blocks.push_back(50 + j);
  EXPECT_EQ(GraphBucket(jobs), 4);
}

TEST(GraphBatch, PaddingSequencesDecodeIntoTheScratchBlock) {
  BatchInputs in = Decode(3);
  in.quantize_pages = {1};
  in.quantize_blocks = {60};
  in.logit_edits.push_back({4, LogitEditKind::kBias, 0.5f});
  in.sampled_edit_indptr = {0, 0, 1, 1};
  const std::vector<int32_t> scratch = {900};
  BatchInputs out;
  const BatchInputs& padded = PadToBucket(in, 4, scratch, out);
  ASSERT_EQ(&padded, &out);
  EXPECT_EQ(out.num_seqs(), 4);
  EXPECT_EQ(out.num_tokens(), 4);
  EXPECT_EQ(out.tokens, (std::vector<int32_t>{1, 2, 3, 0}));
  EXPECT_EQ(out.positions.back(), 0);
  EXPECT_EQ(out.qo_indptr, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(out.kv_len.back(), 1);
  EXPECT_EQ(out.block_indptr, (std::vector<int64_t>{0, 1, 2, 3, 3})) << "no compressed block";
  EXPECT_EQ(out.window_pages, (std::vector<int32_t>{0, 1, 2, 900}));
  EXPECT_EQ(out.window_indptr.back(), 4);
  EXPECT_EQ(out.window_start.back(), 0);
  EXPECT_EQ(out.logits_rows, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(out.sampled_rows, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(out.sampled_edit_indptr, (std::vector<int64_t>{0, 0, 1, 1, 1}));
  EXPECT_TRUE(IsGreedy(out.row_sampling.back()));
  EXPECT_LT(out.row_sampling.back().top_logprobs, 0);
  EXPECT_EQ(out.quantize_blocks, (std::vector<int32_t>{60, -1, -1, -1}));
  EXPECT_EQ(out.quantize_pages.size(), 4u);
  EXPECT_EQ(out.logit_edits.size(), 1u);
}

}  // namespace
}  // namespace xq
