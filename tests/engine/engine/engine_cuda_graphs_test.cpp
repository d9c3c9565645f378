// The engine on the CUDA runner with its decode steps as CUDA graphs and without, in CI over the
// SIMT emulation: continuous batching changes the batch size as requests arrive and finish,
// prompts are scored for logprobs, a request forks n = 2 copies, rows draw with their own
// seeds, penalties edit rows. Either way every token and logprob is the same, and decode steps
// run from graphs.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "engine/engine.h"
#include "engine/runner/cuda/cuda_model_runner.h"
#include "tests/engine/engine/engine_test_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

std::vector<GenerateRequest> Requests(int64_t vocab) {
  std::mt19937 rng(5);
  std::vector<GenerateRequest> requests(10);
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerateRequest& r = requests[i];
    char id[24];
    std::snprintf(id, sizeof id, "r%zu", i);  // (GCC 12 warns falsely about "r" + to_string)
    r.id = id;
    for (int t = 3 + static_cast<int>(rng() % 18); t > 0; --t) {
      r.prompt.push_back(static_cast<int32_t>(rng() % vocab));
    }
    SamplingParams& p = r.params;
    p.max_tokens = 6 + static_cast<int32_t>(rng() % 20);  // requests finish at different steps
    p.ignore_eos = true;
    p.seed = i;
    if (i % 3 == 1) {
      p.temperature = 0.9f;
      p.top_k = 20;
    }
    if (i % 4 == 2) {
      p.logprobs = true;  // raw logprobs of rows without edits: from the row itself, in graphs
      p.top_logprobs = 2;
    }
    if (i == 5) p.presence_penalty = 1.5f;  // edits on its rows
    if (i == 6) p.prompt_logprobs = 1;
    if (i == 7) p.n = 2;
  }
  return requests;
}

// fp16 matrices with up to 8 sequences; and matrices kept in GGML blocks with up to 12, so that
// decode steps take both the quantized GEMV (up to 8 rows) and the tensor-core GEMM (a bucket of
// 12) inside graphs.
class EngineCudaGraphs : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Weights, EngineCudaGraphs, ::testing::Values(false, true),
                         [](const auto& info) {
                           return std::string(info.param ? "GgmlBlocks" : "Fp16");
                         });

TEST_P(EngineCudaGraphs, OutputsEqualEagerStepsAndDecodeRunsFromGraphs) {
  const bool quantized = GetParam();
  test::TempDir dir;
  const std::string profile = (dir.path() / "profile.json").string();
  std::ofstream(profile) << R"({"name": "tiny-xquant", "block_tokens": 8, "recent_window": 8,
      "calibration": true, "eta": {"1": 0.16667, "2": 0.045},
      "keys": {"bits": 2}, "values": {"bits": 2, "share_from_layer": 0}})";
  ASSERT_EQ(ProbeCudaDevice().name, "SIMT emulation")
      << "the runtime stand-in must be linked ahead of the real CUDA runner (CMakeLists.txt)";
  const Model model =
      quantized ? test::WithQuantizedMatrices(test::MakeTinyModel()) : test::MakeTinyModel();
  const std::vector<GenerateRequest> requests = Requests(model.config.vocab_size);
  std::vector<test::RequestResult> results[2];
  CudaGraphStats stats[2];
  for (const bool graphs : {false, true}) {
    EngineConfig c;
    c.kv_profile = profile;
    c.kv_cache_bytes = 256 << 10;
    c.max_num_seqs = quantized ? 12 : 8;
    c.max_num_batched_tokens = 32;
    c.target_itl_ms = 0;
    auto runner = std::make_unique<CudaModelRunner>(model, CudaRunnerOptions{.graphs = graphs});
    const CudaModelRunner* cuda = runner.get();
    Engine engine(model, c, std::move(runner));
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const GenerateRequest& r : requests) streams.push_back(engine.Submit(r));
    for (auto& stream : streams) results[graphs].push_back(test::Drain(*stream));
    ASSERT_TRUE(engine.WaitIdle(std::chrono::seconds(60)));
    stats[graphs] = cuda->graph_stats();
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(requests[i].id);
    const test::RequestResult &eager = results[0][i], &graphed = results[1][i];
    ASSERT_TRUE(graphed.error.empty()) << graphed.error;
    ASSERT_EQ(graphed.copies.size(), eager.copies.size());
    for (size_t k = 0; k < eager.copies.size(); ++k) {
      EXPECT_EQ(graphed.copies[k].tokens, eager.copies[k].tokens);
      ASSERT_EQ(graphed.copies[k].logprobs.size(), eager.copies[k].logprobs.size());
      for (size_t t = 0; t < eager.copies[k].logprobs.size(); ++t) {
        EXPECT_NEAR(graphed.copies[k].logprobs[t], eager.copies[k].logprobs[t], 1e-4);
      }
    }
  }
  EXPECT_EQ(stats[0].replays, 0);
  EXPECT_GT(stats[1].captures, 0);
  // Decode steps outnumber prefill chunks and first sightings of a shape several times over.
  EXPECT_GT(stats[1].replays, stats[1].eager_steps) << "captures " << stats[1].captures;
  // With 12 sequences at once, graphs past the GEMV's 8 rows ran (the tensor-core GEMM).
  if (quantized) {
    EXPECT_EQ(stats[1].largest_replayed_bucket, 12);
  }
}

}  // namespace
}  // namespace xq
