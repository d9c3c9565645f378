// Sampling on the GPU (kernels/cuda/sample_tokens, token_logprobs) against what it replaces:
// copying the whole logits rows to the host. Llama-3's vocabulary (128256), batch 1, 32 and
// 256, for greedy, plain temperature, top-k, top-p, all truncations at once, and top-p with 20
// logprobs. Prints one JSON line per case: milliseconds per step on the device, the copy's
// milliseconds for the same rows (to pinned memory), and their ratio. Needs a GPU
// (tests/gpu/run_all.sh runs it).
#include <cuda_runtime_api.h>

#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/cuda_bench_timing.h"
#include "kernels/cuda/ops.h"

namespace xq {
namespace {

using bench::Check;

constexpr int64_t kVocab = 128256;
constexpr int kRepeats = 20;

template <typename T>
T* Upload(const std::vector<T>& v) {
  void* p = nullptr;
  Check(cudaMalloc(&p, v.size() * sizeof(T)), "cudaMalloc");
  Check(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  return static_cast<T*>(p);
}

template <typename Step>
double TimeMs(Step step) {
  return bench::TimeMs(step, kRepeats);
}

struct Mode {
  const char* name;
  RowSampling draw;
};

int Main() {
  const int64_t max_batch = 256;
  std::vector<float> host(max_batch * kVocab);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float& x : host) x = normal(rng);
  float* logits = Upload(host);
  void* pinned = nullptr;
  Check(cudaMallocHost(&pinned, host.size() * sizeof(float)), "cudaMallocHost");
  std::vector<int64_t> rows(max_batch);
  for (int64_t i = 0; i < max_batch; ++i) rows[i] = i;
  const int64_t* d_rows = Upload(rows);
  int32_t* tokens = Upload(std::vector<int32_t>(max_batch));
  RowLogprobs* logprobs = Upload(std::vector<RowLogprobs>(max_batch));
  const std::vector<Mode> modes = {
      {"greedy", {0.0f, 0, 1.0f, 0.0f, 0.5}},
      {"temperature", {0.8f, 0, 1.0f, 0.0f, 0.5}},
      {"top_k_50", {0.8f, 50, 1.0f, 0.0f, 0.5}},
      {"top_p_0.9", {0.8f, 0, 0.9f, 0.0f, 0.5}},
      {"top_k_top_p_min_p", {0.8f, 50, 0.95f, 0.05f, 0.5}},
      {"top_p_0.9_logprobs_20", {0.8f, 0, 0.9f, 0.0f, 0.5, 20, 1, 1.0f}},
  };
  for (const int64_t batch : {int64_t{1}, int64_t{32}, max_batch}) {
    const double copy_ms = TimeMs([&] {
      Check(cudaMemcpyAsync(pinned, logits, batch * kVocab * sizeof(float), cudaMemcpyDeviceToHost),
            "copy");
    });
    for (const Mode& m : modes) {
      RowSampling* params = Upload(std::vector<RowSampling>(batch, m.draw));
      // Raw logprobs read a kept copy of the row; here the logits themselves stand in for it.
      int32_t* raw_slots = Upload(std::vector<int32_t>(rows.begin(), rows.begin() + batch));
      const double ms = TimeMs([&] {
        cuda::LaunchSampleTokens(logits, kVocab, d_rows, params, batch, tokens, nullptr);
        if (m.draw.top_logprobs >= 0) {
          cuda::LaunchTokenLogprobs(logits, kVocab, d_rows, logits, raw_slots, params, tokens,
                                    batch, logprobs, nullptr);
        }
      });
      std::printf(
          "{\"bench\": \"cuda_sampling\", \"mode\": \"%s\", \"batch\": %lld, \"vocab\": %lld, "
          "\"ms\": %.4f, \"copy_rows_ms\": %.4f, \"copy_over_sampling\": %.2f}\n",
          m.name, static_cast<long long>(batch), static_cast<long long>(kVocab), ms, copy_ms,
          copy_ms / ms);
      cudaFree(params);
      cudaFree(raw_slots);
    }
  }
  return 0;
}

}  // namespace
}  // namespace xq

int main() {
  try {
    return xq::Main();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_sampling_bench: %s\n", e.what());
    return 1;
  }
}
