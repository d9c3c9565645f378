// Stress: hundreds of requests with random prompt and output lengths, staggered arrivals and
// cancellations, over a KV budget small enough to force preemption. Every request must finish
// or be cancelled, greedy outputs must equal those of the same request run alone, and afterwards
// every block is back in the pool with the allocator's invariants intact.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/model/model_loader.h"
#include "tests/engine/engine/engine_test_util.h"
#include "tests/support/gguf_model_writer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

using test::Accumulate;
using test::RequestResult;

struct Job {
  GenerateRequest request;
  int cancel_after_updates = -1;  // -1: run to the end
  std::shared_ptr<RequestStream> stream;
  RequestResult result;
  bool done = false;
};

struct StressCase {
  const char* profile_json;
  int64_t kv_bytes;  // small enough to force preemption, large enough for the longest request
};

class EngineStressTest : public ::testing::TestWithParam<StressCase> {
 protected:
  void SetUp() override {
    // Q8_0 matrices take the quantized matmul path, whose rows do not depend on the batch.
    const std::string path = (dir_.path() / "tiny.gguf").string();
    test::WriteGgufModel(test::MakeTinyModel(), path, GgmlType::kQ8_0);
    model_ = LoadModel(path);
    profile_ = (dir_.path() / "profile.json").string();
    std::ofstream(profile_) << GetParam().profile_json;
  }

  EngineConfig Config(int64_t kv_bytes, int32_t max_num_seqs) const {
    EngineConfig c;
    c.kv_profile = profile_;
    c.kv_cache_bytes = kv_bytes;
    c.max_num_seqs = max_num_seqs;
    c.max_num_batched_tokens = 64;
    c.prefix_caching = true;
    return c;
  }

  test::TempDir dir_;
  Model model_;
  std::string profile_;
};

TEST_P(EngineStressTest, HundredsOfRequestsUnderMemoryPressure) {
  constexpr int kRequests = 300;
  std::mt19937 rng(7);
  std::vector<Job> jobs(kRequests);
  const int32_t vocab = static_cast<int32_t>(model_.config.vocab_size);
  // A few shared prefixes so the prefix cache sees hits while blocks are scarce.
  std::vector<std::vector<int32_t>> prefixes(4);
  for (auto& p : prefixes) {
    for (int i = 0; i < 24; ++i) p.push_back(static_cast<int32_t>(rng() % vocab));
  }
  for (int i = 0; i < kRequests; ++i) {
    Job& job = jobs[i];
    job.request.id = "r" + std::to_string(i);
    if (rng() % 2) job.request.prompt = prefixes[rng() % prefixes.size()];
    const int extra = 1 + static_cast<int>(rng() % 90);
    for (int t = 0; t < extra; ++t)
      job.request.prompt.push_back(static_cast<int32_t>(rng() % vocab));
    job.request.params.temperature = 0.0f;
    job.request.params.ignore_eos = true;
    job.request.params.max_tokens = 1 + static_cast<int32_t>(rng() % 60);
    job.request.priority = static_cast<int32_t>(rng() % 3);
    if (rng() % 6 == 0) job.cancel_after_updates = static_cast<int>(rng() % 4);
  }

  Engine engine(model_, Config(GetParam().kv_bytes, 16));
  size_t submitted = 0;
  int finished = 0;
  while (finished < kRequests) {
    // Staggered arrivals: a random handful per round.
    for (int k = static_cast<int>(rng() % 4); k > 0 && submitted < jobs.size(); --k) {
      jobs[submitted].stream = engine.Submit(jobs[submitted].request);
      ++submitted;
    }
    for (size_t i = 0; i < submitted; ++i) {
      Job& job = jobs[i];
      if (job.done) continue;
      while (std::optional<RequestUpdate> u = job.stream->Next(std::chrono::milliseconds(0))) {
        if (Accumulate(job.result, std::move(*u))) {
          job.done = true;
          ++finished;
          break;
        }
        if (job.result.updates == job.cancel_after_updates) job.stream->Cancel();
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(30)));
  const EngineStats stats = engine.Stats();
  EXPECT_GT(stats.preemptions, 0) << "the budget should force preemption";
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running_requests, 0);
  EXPECT_EQ(stats.waiting_requests, 0);
  EXPECT_EQ(engine.CheckInvariants(), "");

  // Reference: each uncancelled request alone, with plenty of memory.
  Engine alone(model_, Config(16 << 20, 1));
  int compared = 0;
  for (Job& job : jobs) {
    ASSERT_EQ(job.result.copies.size(), 1u) << job.request.id;
    const test::CopyResult& got = job.result.copies[0];
    ASSERT_TRUE(job.result.error.empty()) << job.result.error;
    if (got.finish == FinishKind::kAbort) {
      EXPECT_GE(job.cancel_after_updates, 0) << job.request.id << " aborted without a cancel";
      continue;
    }
    EXPECT_EQ(got.finish, FinishKind::kLength) << job.request.id;
    const RequestResult ref = test::Drain(*alone.Submit(job.request));
    EXPECT_EQ(got.tokens, ref.copies[0].tokens) << job.request.id;
    ++compared;
  }
  EXPECT_GT(compared, kRequests / 2);
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, EngineStressTest,
    ::testing::Values(
        // 64 blocks of 2 KiB (a window block is one page): 16 windows and a step of 64 tokens
        // leave room for only a few prompts' worth of compressed blocks.
        StressCase{R"({"name": "tiny-fp16", "block_tokens": 8, "recent_window": 0,
                       "calibration": false, "keys": {"bits": 16}, "values": {"bits": 16}})",
                   128 << 10},
        StressCase{R"({"name": "tiny-xquant", "block_tokens": 8, "recent_window": 16,
                       "calibration": true, "eta": {"1": 0.16667, "2": 0.045},
                       "keys": {"bits": 2}, "values": {"bits": 1, "share_from_layer": 0}})",
                   // 213 blocks of 672 B; a window block is 4 pages, so 16 windows of up to
                   // 23 tokens take 192 of them: preemption is certain.
                   140 << 10}));

}  // namespace
}  // namespace xq
