// Engine tests on the default model: batched output equals one-at-a-time output, prefix caching
// keeps greedy output, n > 1, stop strings, logprobs, cancellation and request validation.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "engine/kv/kv_profile.h"
#include "engine/model/model_loader.h"
#include "engine/runner/cpu_model_runner.h"
#include "engine/step/kv_backend.h"
#include "engine/step/solo_sequence.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/engine/engine/engine_test_util.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

using test::Drain;
using test::RequestResult;

class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(XQ_DEFAULT_MODEL)) return;
    model_ = new Model(LoadModel(XQ_DEFAULT_MODEL));
    tokenizer_ = new Tokenizer(model_->tokenizer);
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
    tokenizer_ = nullptr;
    model_ = nullptr;
  }
  void SetUp() override {
    if (!model_) XQ_SKIP_OR_FAIL() << "default model missing: run `make model`";
  }

  EngineConfig Config(bool prefix_caching = false) const {
    EngineConfig c;
    c.kv_profile = GetParam();
    c.kv_cache_bytes = 256 << 20;
    c.max_num_seqs = 8;
    c.max_num_batched_tokens = 96;  // prompts are chunked and mixed with decodes
    c.prefix_caching = prefix_caching;
    return c;
  }

  static GenerateRequest Greedy(const std::string& text, int32_t max_tokens) {
    GenerateRequest r;
    r.id = text.substr(0, 16);
    r.prompt = tokenizer_->Encode(text);
    r.params.temperature = 0.0f;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    return r;
  }

  static std::vector<std::string> Prompts() {
    std::string long_text;
    for (int i = 0; i < 12; ++i) {
      long_text +=
          "Paged attention stores the key and value cache in fixed-size blocks, so "
          "memory is allocated as sequences grow. ";
    }
    return {"The capital of France is",     "Once upon a time, in a small village by the sea,",
            long_text + "In short, paging", "def fibonacci(n):",
            "List three colours: red,",     "The quick brown fox"};
  }

  static Model* model_;
  static Tokenizer* tokenizer_;
};

Model* EngineTest::model_ = nullptr;
Tokenizer* EngineTest::tokenizer_ = nullptr;

TEST_P(EngineTest, BatchedGreedyOutputEqualsOneRequestAtATime) {
  const std::vector<std::string> prompts = Prompts();
  std::vector<RequestResult> alone;
  {
    Engine engine(*model_, Config());
    for (const std::string& p : prompts) {
      alone.push_back(Drain(*engine.Submit(Greedy(p, 20))));
    }
  }
  Engine engine(*model_, Config());
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& p : prompts) streams.push_back(engine.Submit(Greedy(p, 20)));
  for (size_t i = 0; i < prompts.size(); ++i) {
    const RequestResult batched = Drain(*streams[i]);
    ASSERT_EQ(batched.copies.size(), 1u);
    EXPECT_EQ(batched.copies[0].finish, FinishKind::kLength);
    EXPECT_EQ(batched.copies[0].tokens.size(), 20u);
    EXPECT_EQ(batched.copies[0].tokens, alone[i].copies[0].tokens) << "prompt " << i;
    EXPECT_EQ(batched.copies[0].text, alone[i].copies[0].text);
    EXPECT_EQ(batched.usage.completion_tokens, 20);
    EXPECT_EQ(batched.usage.prompt_tokens,
              static_cast<int32_t>(Greedy(prompts[i], 1).prompt.size()));
  }
  ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(10)));  // stats are published after a step
  const EngineStats stats = engine.Stats();
  EXPECT_GT(stats.max_concurrent_sequences, 1);
  EXPECT_EQ(stats.requests_finished, static_cast<int64_t>(prompts.size()));
}

TEST_P(EngineTest, PrefixCachingKeepsGreedyOutput) {
  std::string system;
  for (int i = 0; i < 10; ++i) {
    system += "You are a careful assistant. Answer briefly and precisely, citing facts. ";
  }
  const std::string first = system + "Question: what is a cache?";
  const std::string second = system +
                             "Question: what is a page table, how does an operating system use "
                             "one to map virtual addresses, and why do large pages help?";
  RequestResult cold;
  {
    Engine engine(*model_, Config(/*prefix_caching=*/false));
    cold = Drain(*engine.Submit(Greedy(second, 16)));
  }
  Engine engine(*model_, Config(/*prefix_caching=*/true));
  Drain(*engine.Submit(Greedy(first, 4)));
  const RequestResult warm = Drain(*engine.Submit(Greedy(second, 16)));
  EXPECT_GT(warm.usage.cached_tokens, 64) << "the shared system prompt should be reused";
  EXPECT_EQ(cold.usage.cached_tokens, 0);
  EXPECT_EQ(warm.copies[0].tokens, cold.copies[0].tokens);
  ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(10)));  // stats are published after a step
  const EngineStats stats = engine.Stats();
  EXPECT_GT(stats.prefix_cache_hits, 0);
  EXPECT_GE(stats.prefix_cache_queries, stats.prefix_cache_hits);

  // Repeating the same request resumes from its own cached window (multi-turn shape).
  const RequestResult again = Drain(*engine.Submit(Greedy(second, 16)));
  const int32_t prompt = static_cast<int32_t>(Greedy(second, 1).prompt.size());
  EXPECT_EQ(again.usage.cached_tokens, (prompt - 1) / 32 * 32)
      << "all full blocks but the last token's";
  EXPECT_GT(again.usage.cached_tokens, warm.usage.cached_tokens);
  EXPECT_EQ(again.copies[0].tokens, cold.copies[0].tokens);
}

TEST_P(EngineTest, CopiesShareThePromptAndSeedsReproduce) {
  Engine engine(*model_, Config());
  GenerateRequest r = Greedy("Write a short poem about the sea:", 12);
  r.params.temperature = 1.0f;
  r.params.n = 3;
  r.params.seed = 1234;
  const RequestResult a = Drain(*engine.Submit(r));
  const RequestResult b = Drain(*engine.Submit(r));
  ASSERT_EQ(a.copies.size(), 3u);
  EXPECT_EQ(a.usage.completion_tokens, 36);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.copies[i].tokens, b.copies[i].tokens) << "copy " << i;
  EXPECT_TRUE(a.copies[0].tokens != a.copies[1].tokens || a.copies[1].tokens != a.copies[2].tokens)
      << "copies draw with different seeds";
}

TEST_P(EngineTest, StopStringEndsTheTextBeforeIt) {
  Engine engine(*model_, Config());
  const RequestResult full = Drain(*engine.Submit(Greedy("Count: one, two, three,", 16)));
  const std::string text = full.copies[0].text;
  ASSERT_GE(text.size(), 8u);
  const std::string stop = text.substr(4, 3);
  GenerateRequest r = Greedy("Count: one, two, three,", 16);
  r.params.stop = {stop};
  const RequestResult stopped = Drain(*engine.Submit(r));
  EXPECT_EQ(stopped.copies[0].finish, FinishKind::kStop);
  EXPECT_EQ(stopped.copies[0].stop_reason, stop);
  EXPECT_EQ(stopped.copies[0].text, text.substr(0, text.find(stop)));
}

TEST_P(EngineTest, LogprobsDescribeTheGreedyChoice) {
  Engine engine(*model_, Config());
  GenerateRequest r = Greedy("The capital of France is", 5);
  r.params.logprobs = true;
  r.params.top_logprobs = 3;
  auto stream = engine.Submit(r);
  int tokens = 0;
  for (;;) {
    std::optional<RequestUpdate> u = stream->Next(std::chrono::seconds(60));
    ASSERT_TRUE(u.has_value());
    for (const SequenceDelta& d : u->deltas) {
      for (const TokenOutput& t : d.tokens) {
        ++tokens;
        ASSERT_EQ(t.top_logprobs.size(), 3u);
        EXPECT_EQ(t.top_logprobs[0].token, t.token);
        EXPECT_FLOAT_EQ(t.top_logprobs[0].logprob, t.logprob);
        EXPECT_LE(t.logprob, 0.0f);
        EXPECT_GE(t.top_logprobs[0].logprob, t.top_logprobs[1].logprob);
      }
    }
    if (u->finished) break;
  }
  EXPECT_EQ(tokens, 5);
}

// Prompt logprobs are the teacher-forced log-probabilities of the prompt's own tokens: the same
// numbers as one sequence run straight through the runner, though the engine chunks the prompt.
TEST_P(EngineTest, PromptLogprobsAreTheTeacherForcedOnes) {
  Engine engine(*model_, Config(/*prefix_caching=*/true));
  GenerateRequest r = Greedy(Prompts()[2], 1);  // ~250 tokens: prefilled in chunks of 96
  r.params.prompt_logprobs = 1;
  auto stream = engine.Submit(r);
  std::vector<TokenOutput> got;
  for (;;) {
    std::optional<RequestUpdate> u = stream->Next(std::chrono::seconds(120));
    ASSERT_TRUE(u.has_value());
    if (!u->prompt_logprobs.empty()) got = u->prompt_logprobs;
    if (u->finished) break;
  }
  ASSERT_EQ(got.size(), r.prompt.size() - 1);

  KvBackend solo = MakeKvBackend(*model_, LoadKvProfile(GetParam()), 256 << 20, 1024,
                                 std::make_unique<CpuModelRunner>(*model_));
  SoloSequence seq(*solo.runner, *solo.kv);
  std::vector<int64_t> rows(r.prompt.size());
  std::iota(rows.begin(), rows.end(), 0);
  const std::vector<float>& logits = seq.Append(r.prompt, rows);
  const int64_t vocab = model_->config.vocab_size;
  for (size_t p = 0; p + 1 < r.prompt.size(); ++p) {
    const std::span<const float> row(logits.data() + p * vocab, vocab);
    const TokenLogprobs want = ComputeTokenLogprobs(row, r.prompt[p + 1], 1);
    ASSERT_EQ(got[p].token, r.prompt[p + 1]);
    EXPECT_NEAR(got[p].logprob, want.logprob, 2e-3) << "position " << p;
    // Ranked first exactly when nothing in the top list is more likely.
    EXPECT_GE(got[p].rank, 1);
    EXPECT_EQ(got[p].rank == 1, got[p].top_logprobs[0].logprob <= got[p].logprob) << p;
    ASSERT_EQ(got[p].top_logprobs.size(), 1u);
  }
}

TEST_P(EngineTest, CancelFreesTheBlocksPromptly) {
  Engine engine(*model_, Config(/*prefix_caching=*/false));
  auto stream = engine.Submit(Greedy(Prompts()[2], 1000));
  ASSERT_TRUE(stream->Next(std::chrono::seconds(60)).has_value());
  EXPECT_GT(engine.Stats().kv_blocks_used + engine.Stats().running_sequences, 0);
  stream->Cancel();
  const RequestResult rest = Drain(*stream, std::chrono::seconds(30));
  ASSERT_EQ(rest.copies.size(), 1u);
  EXPECT_EQ(rest.copies[0].finish, FinishKind::kAbort);
  ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(engine.Stats().kv_blocks_used, 0);
  EXPECT_EQ(engine.Stats().running_requests, 0);
  EXPECT_EQ(engine.CheckInvariants(), "");
}

TEST_P(EngineTest, RejectsRequestsThatCanNeverRun) {
  EngineConfig c = Config();
  c.max_model_len = 256;
  Engine engine(*model_, c);
  auto expect_invalid = [&](GenerateRequest r, const std::string& field) {
    try {
      engine.Submit(std::move(r));
      ADD_FAILURE() << "accepted; expected an error naming " << field;
    } catch (const InvalidRequest& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  GenerateRequest too_long = Greedy("x", 1);
  too_long.prompt.assign(300, 100);
  expect_invalid(too_long, "prompt");
  expect_invalid(Greedy("hello", 256), "max_tokens");
  GenerateRequest empty = Greedy("hello", 1);
  empty.prompt.clear();
  expect_invalid(empty, "prompt");
  GenerateRequest bad_token = Greedy("hello", 1);
  bad_token.prompt.push_back(1 << 30);
  expect_invalid(bad_token, "prompt");
  GenerateRequest hot = Greedy("hello", 1);
  hot.params.temperature = -1.0f;
  expect_invalid(hot, "temperature");
  GenerateRequest many = Greedy("hello", 1);
  many.params.n = 9;
  expect_invalid(many, "n");
  // The server keeps serving after rejecting.
  EXPECT_EQ(Drain(*engine.Submit(Greedy("hello", 2))).copies[0].tokens.size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, EngineTest, ::testing::Values("fp16", "xquant-1.38"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace xq
