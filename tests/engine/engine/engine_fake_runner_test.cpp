// The engine's scheduling, preemption, prefix caching and forks without a model: a fake runner
// whose next token is a hash of the history it reads back from its KV blocks (fake_runner.h), so
// every output is known in advance and any block-table mistake changes it.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "tests/engine/engine/engine_test_util.h"
#include "tests/engine/engine/fake_runner.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

struct FakeCase {
  const char* name;
  const char* profile_json;
  int64_t kv_bytes;  // small enough to force preemption
};

class EngineFakeRunnerTest : public ::testing::TestWithParam<FakeCase> {
 protected:
  void SetUp() override {
    model_ = test::MakeTinyModel();
    profile_ = (dir_.path() / "profile.json").string();
    std::ofstream(profile_) << GetParam().profile_json;
  }

  // samples_rows: the runner samples rows itself, as the CUDA runner does.
  std::unique_ptr<Engine> MakeEngine(bool prefix_caching, int32_t target_itl_ms = 0,
                                     bool samples_rows = false) {
    EngineConfig c;
    c.target_itl_ms = target_itl_ms;
    c.kv_profile = profile_;
    c.kv_cache_bytes = GetParam().kv_bytes;
    c.max_num_seqs = 12;
    c.max_num_batched_tokens = 48;
    c.prefix_caching = prefix_caching;
    // With a target, steps take 50 us a token: a full 48-token step is over twice the 1 ms
    // target, so prompts go in at the smallest chunks while others decode.
    auto runner = std::make_unique<test::FakeRunner>(
        model_.config.vocab_size, std::chrono::microseconds(target_itl_ms > 0 ? 50 : 0),
        samples_rows);
    runner_ = runner.get();
    return std::make_unique<Engine>(model_, c, std::move(runner));
  }

  test::TempDir dir_;
  Model model_;
  std::string profile_;
  test::FakeRunner* runner_ = nullptr;  // the last MakeEngine's, owned by its engine
};

TEST_P(EngineFakeRunnerTest, EveryOutputIsTheFakeModelsUnderPreemptionPrefixHitsAndForks) {
  for (const auto& [prefix_caching, target_itl_ms, samples_rows] :
       std::vector<std::tuple<bool, int32_t, bool>>{
           {false, 0, false}, {true, 0, false}, {true, 1, false}, {true, 0, true}}) {
    SCOPED_TRACE(std::string(prefix_caching ? "prefix caching" : "no prefix caching") +
                 ", target ITL " + std::to_string(target_itl_ms) + " ms" +
                 (samples_rows ? ", rows sampled by the runner" : ""));
    auto engine = MakeEngine(prefix_caching, target_itl_ms, samples_rows);
    const int64_t vocab = model_.config.vocab_size;
    std::mt19937 rng(5);
    std::vector<std::vector<int32_t>> prefixes(3);
    for (auto& p : prefixes) {
      for (int i = 0; i < 40; ++i) p.push_back(static_cast<int32_t>(rng() % vocab));
    }
    struct Job {
      GenerateRequest request;
      std::shared_ptr<RequestStream> stream;
    };
    std::vector<Job> jobs(60);
    for (size_t i = 0; i < jobs.size(); ++i) {
      GenerateRequest& r = jobs[i].request;
      r.id = "r" + std::to_string(i);
      if (rng() % 2) r.prompt = prefixes[rng() % prefixes.size()];
      for (int t = 1 + static_cast<int>(rng() % 50); t > 0; --t) {
        r.prompt.push_back(static_cast<int32_t>(rng() % vocab));
      }
      r.params.temperature = 0.0f;
      r.params.ignore_eos = true;
      r.params.max_tokens = 1 + static_cast<int32_t>(rng() % 40);
      r.params.n = rng() % 4 == 0 ? 3 : 1;
      r.priority = static_cast<int32_t>(rng() % 2);
    }
    runner_->Hold();
    for (Job& job : jobs) job.stream = engine->Submit(job.request);
    runner_->Release();
    int64_t cached = 0;
    for (Job& job : jobs) {
      const test::RequestResult got = test::Drain(*job.stream);
      ASSERT_TRUE(got.error.empty()) << job.request.id << ": " << got.error;
      const auto want =
          test::FakeContinuation(job.request.prompt, job.request.params.max_tokens, vocab);
      ASSERT_EQ(got.copies.size(), static_cast<size_t>(job.request.params.n));
      for (const test::CopyResult& copy : got.copies) {
        EXPECT_EQ(copy.tokens, want) << job.request.id;
        EXPECT_EQ(copy.finish, FinishKind::kLength) << job.request.id;
      }
      cached += got.usage.cached_tokens;
    }
    ASSERT_TRUE(engine->WaitIdle(std::chrono::seconds(30)));
    const EngineStats stats = engine->Stats();
    EXPECT_GT(stats.preemptions, 0) << "the budget should force preemption";
    EXPECT_EQ(stats.kv_blocks_used, 0);
    EXPECT_EQ(engine->CheckInvariants(), "");
    if (samples_rows) {
      EXPECT_GT(runner_->rows_sampled_by_runner(), 0);
    } else {
      EXPECT_EQ(runner_->rows_sampled_by_runner(), 0);
    }
    if (prefix_caching) {
      EXPECT_GT(cached, 0) << "shared prefixes should hit";
    } else {
      EXPECT_EQ(cached, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, EngineFakeRunnerTest,
    ::testing::Values(FakeCase{"fp16",
                               R"({"name": "fake-fp16", "block_tokens": 8, "recent_window": 0,
                     "calibration": false, "keys": {"bits": 16}, "values": {"bits": 16}})",
                               96 << 10},
                      FakeCase{"xquant",
                               R"({"name": "fake-xquant", "block_tokens": 8, "recent_window": 16,
                     "calibration": true, "eta": {"1": 0.16667, "2": 0.045},
                     "keys": {"bits": 2}, "values": {"bits": 1, "share_from_layer": 0}})",
                               64 << 10}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace xq

namespace xq {
namespace {

// log_softmax of the fake model's logits (10 at the next token, 0 elsewhere) at `token`.
double FakeLogprob(const std::vector<int32_t>& history, int32_t token, int64_t vocab) {
  const double log_z = std::log(std::exp(10.0) + static_cast<double>(vocab - 1));
  return (token == test::NextToken(history, vocab) ? 10.0 : 0.0) - log_z;
}

TEST_P(EngineFakeRunnerTest, PromptLogprobsCoverEveryPromptTokenUnderPreemption) {
  for (const bool samples_rows : {false, true}) {
    SCOPED_TRACE(samples_rows ? "rows sampled by the runner" : "every row on the host");
    auto engine = MakeEngine(/*prefix_caching=*/true, 0, samples_rows);
    const int64_t vocab = model_.config.vocab_size;
    std::mt19937 rng(8);
    const std::vector<int32_t> shared = test::FakeContinuation({1, 2, 3}, 40, vocab);
    std::vector<GenerateRequest> requests(24);
    std::vector<std::shared_ptr<RequestStream>> streams;
    runner_->Hold();
    for (size_t i = 0; i < requests.size(); ++i) {
      GenerateRequest& r = requests[i];
      r.id = "p" + std::to_string(i);
      r.prompt = shared;  // a cached prefix they must not take
      for (int t = 1 + static_cast<int>(rng() % 60); t > 0; --t) {
        r.prompt.push_back(static_cast<int32_t>(rng() % vocab));
      }
      r.params.temperature = 0.0f;
      r.params.ignore_eos = true;
      r.params.max_tokens = 1 + static_cast<int32_t>(rng() % 20);
      r.params.prompt_logprobs = i % 2 ? 2 : -1;
      streams.push_back(engine->Submit(r));
    }
    runner_->Release();
    for (size_t i = 0; i < requests.size(); ++i) {
      const GenerateRequest& r = requests[i];
      std::vector<TokenOutput> prompt_logprobs;
      test::RequestResult got;
      while (auto u = streams[i]->Next(std::chrono::seconds(30))) {
        if (!u->prompt_logprobs.empty()) {
          ASSERT_TRUE(prompt_logprobs.empty()) << "sent twice";
          prompt_logprobs = u->prompt_logprobs;
        }
        if (test::Accumulate(got, std::move(*u))) break;
      }
      ASSERT_TRUE(got.error.empty()) << got.error;
      EXPECT_EQ(got.copies[0].tokens, test::FakeContinuation(r.prompt, r.params.max_tokens, vocab))
          << r.id;
      if (r.params.prompt_logprobs < 0) {
        EXPECT_TRUE(prompt_logprobs.empty());
        continue;
      }
      EXPECT_EQ(got.usage.cached_tokens, 0) << "prompt logprobs need the whole prompt computed";
      ASSERT_EQ(prompt_logprobs.size(), r.prompt.size() - 1) << r.id;
      for (size_t p = 0; p + 1 < r.prompt.size(); ++p) {
        const std::vector<int32_t> history(r.prompt.begin(), r.prompt.begin() + p + 1);
        const TokenOutput& out = prompt_logprobs[p];
        ASSERT_EQ(out.token, r.prompt[p + 1]);
        ASSERT_NEAR(out.logprob, FakeLogprob(history, out.token, vocab), 1e-4) << r.id << " " << p;
        ASSERT_EQ(out.top_logprobs.size(), 2u);
        EXPECT_EQ(out.top_logprobs[0].token, test::NextToken(history, vocab));
      }
    }
    ASSERT_TRUE(engine->WaitIdle(std::chrono::seconds(30)));
    EXPECT_GT(engine->Stats().preemptions, 0);
    EXPECT_EQ(engine->CheckInvariants(), "");
    EXPECT_EQ(runner_->rows_sampled_by_runner() > 0, samples_rows);
    // A runner that samples also scores the prompt rows (the host never reads them: the fake
    // runner leaves NaN there).
    EXPECT_EQ(runner_->prompt_rows_scored() > 0, samples_rows);
  }
}

// Rows sampled by the runner from the sequence's edits (bias, penalties, stop tokens masked
// before min_tokens) and its draw (greedy, or seeded with temperature, top-k, top-p, min-p) give
// exactly the tokens and logprobs (raw or processed) the host sampler gives from whole rows (the
// same uniforms, the same draw), in a batch that mixes them with rows only the host can sample
// (the first token of n > 1).
TEST_P(EngineFakeRunnerTest, RowsSampledByTheRunnerMatchTheHostSampler) {
  const int64_t vocab = model_.config.vocab_size;
  std::mt19937 rng(11);
  std::vector<GenerateRequest> requests(40);
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerateRequest& r = requests[i];
    r.id = "g" + std::to_string(i);
    for (int t = 1 + static_cast<int>(rng() % 30); t > 0; --t) {
      r.prompt.push_back(static_cast<int32_t>(rng() % vocab));
    }
    SamplingParams& p = r.params;
    // At temperature 3 the fake model's next token has e^(10/3) against 1 for each other token:
    // a real spread of draws, which the truncations below then narrow.
    p.temperature = i % 5 == 4 || i % 5 == 2 ? 3.0f : 0.0f;
    // Always a top_k, so the host computes the weights with std::exp as the reference does and
    // the tokens agree bit for bit (sampler_test bounds the full-vocabulary path's faster exp).
    if (p.temperature > 0.0f) p.top_k = i % 3 == 2 ? 6 : static_cast<int32_t>(vocab) - 1;
    if (i % 4 == 3) p.top_p = 0.6f;
    if (i % 5 == 2) p.min_p = 0.05f;
    p.seed = i;
    p.max_tokens = 1 + static_cast<int32_t>(rng() % 24);
    p.ignore_eos = i % 2 == 0;
    // The fake model's logits are 10 at its next token and 0 elsewhere: +12 wins, +10 ties
    // (the first index wins), +15 on a prompt token loses to a repetition penalty of 2 applied
    // after it ((0 + 15) / 2 < 10).
    if (i % 3 == 0) p.logit_bias = {{static_cast<int32_t>(rng() % vocab), 12.0f}};
    if (i % 3 == 1) p.logit_bias = {{static_cast<int32_t>(rng() % vocab), 10.0f}};
    if (i % 4 == 1) {
      p.logit_bias[r.prompt.back()] = 15.0f;
      p.repetition_penalty = 2.0f;
    }
    if (i % 4 == 2) p.presence_penalty = 2.0f;
    if (i % 6 == 3) p.frequency_penalty = -2.0f;
    if (i % 7 == 5) {
      p.min_tokens = p.max_tokens;
      p.stop_token_ids = {r.prompt.front()};
    }
    if (i % 8 == 6 || i % 8 == 3) {
      p.logprobs = true;
      p.top_logprobs = static_cast<int32_t>(i % 4);
      if (i % 8 == 3) p.logprobs_mode = LogprobsMode::kProcessed;
    }
    if (i % 9 == 7) p.n = 2;
  }
  std::vector<std::vector<std::vector<int32_t>>> outputs[2];
  std::vector<std::vector<std::vector<float>>> logprobs[2];
  for (const bool samples_rows : {false, true}) {
    auto engine = MakeEngine(/*prefix_caching=*/true, 0, samples_rows);
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const GenerateRequest& r : requests) streams.push_back(engine->Submit(r));
    for (size_t i = 0; i < streams.size(); ++i) {
      const test::RequestResult got = test::Drain(*streams[i]);
      ASSERT_TRUE(got.error.empty()) << requests[i].id << ": " << got.error;
      std::vector<std::vector<int32_t>> copies;
      std::vector<std::vector<float>> copy_logprobs;
      for (const test::CopyResult& c : got.copies) {
        copies.push_back(c.tokens);
        copy_logprobs.push_back(c.logprobs);
      }
      outputs[samples_rows].push_back(copies);
      logprobs[samples_rows].push_back(copy_logprobs);
    }
    ASSERT_TRUE(engine->WaitIdle(std::chrono::seconds(30)));
    EXPECT_EQ(runner_->rows_sampled_by_runner() > 0, samples_rows);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(outputs[1][i], outputs[0][i]) << requests[i].id;
    EXPECT_EQ(logprobs[1][i], logprobs[0][i]) << requests[i].id;
    if (requests[i].params.logprobs) {
      EXPECT_EQ(logprobs[1][i][0].size(), outputs[1][i][0].size()) << requests[i].id;
    }
  }
}

}  // namespace
}  // namespace xq

namespace xq {
namespace {

using namespace std::chrono_literals;

TEST(EngineConfigErrors, AContextLongerThanTheModelsIsRefusedNotClamped) {
  const Model model = test::MakeTinyModel();  // 256 tokens of context
  EngineConfig c;
  c.kv_profile = "fp16";
  c.max_model_len = 1000;
  try {
    Engine engine(model, c, std::make_unique<test::FakeRunner>(model.config.vocab_size));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_model_len: 1000 exceeds the model's context length "
                                         "of 256 tokens"),
              std::string::npos)
        << e.what();
  }
}

// An fp16 cache of 8-token blocks in 1 MiB, its profile written into `dir`.
EngineConfig Fp16FakeConfig(const test::TempDir& dir) {
  const std::string profile = (dir.path() / "profile.json").string();
  std::ofstream(profile) << R"({"name": "fake-fp16", "block_tokens": 8, "recent_window": 0,
      "calibration": false, "keys": {"bits": 16}, "values": {"bits": 16}})";
  EngineConfig c;
  c.kv_profile = profile;
  c.kv_cache_bytes = 1 << 20;
  return c;
}

// A fake runner whose steps take long enough to submit during one.
class SlowFakeRunner : public test::FakeRunner {
 public:
  using FakeRunner::FakeRunner;
  void Execute(const BatchInputs& in, std::vector<float>& logits) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    FakeRunner::Execute(in, logits);
  }
};

// The queue bound holds while the loop takes a request in: one step after the second request
// arrived it is neither in the inbox nor yet in the loop's published count, and a third
// submitted then was once accepted beyond max_waiting_requests.
TEST(EngineQueueBound, HoldsWhileTheLoopTakesARequestIn) {
  const Model model = test::MakeTinyModel();
  test::TempDir dir;
  EngineConfig c = Fp16FakeConfig(dir);
  c.max_num_seqs = 1;
  c.max_num_batched_tokens = 48;
  c.max_waiting_requests = 1;
  Engine engine(model, c, std::make_unique<SlowFakeRunner>(model.config.vocab_size));
  auto request = [](const std::string& id, int32_t max_tokens) {
    GenerateRequest r;
    r.id = id;
    r.prompt = {1, 2, 3};
    r.params.temperature = 0.0f;
    r.params.ignore_eos = true;
    r.params.max_tokens = max_tokens;
    return r;
  };
  auto running = engine.Submit(request("running", 100));
  while (engine.Stats().running_requests < 1) std::this_thread::sleep_for(1ms);
  auto waiting = engine.Submit(request("waiting", 1));
  // Published at the end of the step it arrived in, while still in the inbox; the next step
  // takes it in (150 ms).
  while (engine.Stats().waiting_requests < 1) std::this_thread::sleep_for(1ms);
  EXPECT_THROW(engine.Submit(request("third", 1)), EngineBusy);
  std::this_thread::sleep_for(200ms);  // and once the loop has counted it
  EXPECT_THROW(engine.Submit(request("fourth", 1)), EngineBusy);
  running->Cancel();
  EXPECT_EQ(test::Drain(*waiting).copies.at(0).tokens.size(), 1u);
}

// A fake runner that fails its next `fail_next` steps, as a device that lost its GPU would.
class FailingFakeRunner : public test::FakeRunner {
 public:
  using FakeRunner::FakeRunner;
  void Execute(const BatchInputs& in, std::vector<float>& logits) override {
    if (fail_next > 0) {
      --fail_next;
      throw std::runtime_error("device lost");
    }
    FakeRunner::Execute(in, logits);
  }
  std::atomic<int> fail_next{0};
};

// A step the runner fails ends its requests with the error (nothing waits forever, no KV block
// leaks) and the engine goes on serving; its stats count the failures, and those in a row until
// a step succeeds (what /health reads).
TEST(EngineStepFailures, EndTheirRequestsAndAreCountedUntilAStepSucceeds) {
  const Model model = test::MakeTinyModel();
  test::TempDir dir;
  EngineConfig c = Fp16FakeConfig(dir);
  auto owned = std::make_unique<FailingFakeRunner>(model.config.vocab_size);
  FailingFakeRunner& runner = *owned;
  runner.fail_next = 2;
  Engine engine(model, c, std::move(owned));
  auto request = [](const std::string& id) {
    GenerateRequest r;
    r.id = id;
    r.prompt = {5, 6, 7, 8, 9};
    r.params.temperature = 0.0f;
    r.params.ignore_eos = true;
    r.params.max_tokens = 4;
    return r;
  };
  for (const char* id : {"first", "second"}) {
    const test::RequestResult failed = test::Drain(*engine.Submit(request(id)));
    EXPECT_EQ(failed.error, "internal error: device lost") << id;
    ASSERT_EQ(failed.copies.size(), 1u);
    EXPECT_EQ(failed.copies[0].finish, FinishKind::kError);
    ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(10)));
  }
  EngineStats stats = engine.Stats();
  EXPECT_EQ(stats.failed_steps, 2);
  EXPECT_EQ(stats.consecutive_failed_steps, 2);
  EXPECT_EQ(stats.last_step_error, "device lost");
  EXPECT_EQ(stats.kv_blocks_used, 0);
  const test::RequestResult served = test::Drain(*engine.Submit(request("third")));
  EXPECT_EQ(served.error, "");
  EXPECT_EQ(served.copies.at(0).tokens,
            test::FakeContinuation({5, 6, 7, 8, 9}, 4, model.config.vocab_size));
  ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(10)));
  stats = engine.Stats();
  EXPECT_EQ(stats.failed_steps, 2);
  EXPECT_EQ(stats.consecutive_failed_steps, 0);
  EXPECT_EQ(engine.CheckInvariants(), "");
}

// While a step runs, the stats say for how long (what /health reads to find a hung device);
// between steps, 0.
TEST(EngineStepFailures, ARunningStepReportsHowLongItHasRun) {
  const Model model = test::MakeTinyModel();
  test::TempDir dir;
  EngineConfig c = Fp16FakeConfig(dir);
  auto owned = std::make_unique<test::FakeRunner>(model.config.vocab_size);
  test::FakeRunner& runner = *owned;
  Engine engine(model, c, std::move(owned));
  EXPECT_EQ(engine.Stats().running_step_seconds, 0.0);
  runner.Hold();
  GenerateRequest r;
  r.id = "held";
  r.prompt = {5, 6, 7};
  r.params.max_tokens = 2;
  auto stream = engine.Submit(r);
  double seconds = 0;
  for (int i = 0; i < 2000 && seconds < 0.05; ++i) {
    std::this_thread::sleep_for(1ms);
    seconds = engine.Stats().running_step_seconds;
  }
  EXPECT_GE(seconds, 0.05);
  runner.Release();
  EXPECT_EQ(test::Drain(*stream).error, "");
  ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(engine.Stats().running_step_seconds, 0.0);
}

}  // namespace
}  // namespace xq
