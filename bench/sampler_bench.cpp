// Token sampling on SmolLM2's 49152-token vocabulary: Sampler (temperature, top-k, top-p, min-p)
// per call on peaked and flat logits, and SequenceSampler's full decode step (penalties, bias,
// top-k/p/min-p, optionally 5 logprobs). Each time is also given as a ratio to an argmax over the
// same logits measured in the same run (one pass over the vocabulary, the floor of any sampler).
// These were print-only "tests" in tests/engine/sampling before.
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/sampling/sampler.h"
#include "engine/sampling/sequence_sampler.h"

namespace xq {
namespace {

constexpr size_t kVocab = 49152;
// A fresh SequenceSampler every this many steps, as one request would (its history and counts
// stay the size of a real generation).
constexpr int32_t kStepsPerSequence = 200;

// Seconds per call by benchmark name, for the ratios.
std::map<std::string, double>& Times() {
  static std::map<std::string, double> times;
  return times;
}

// Standard normal logits times `scale`: 4 makes a peaked distribution, 1 a flat one.
const std::vector<float>& Logits(float scale) {
  static std::map<float, std::vector<float>> cache;
  std::vector<float>& logits = cache[scale];
  if (logits.empty()) {
    std::mt19937 gen(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    logits.resize(kVocab);
    for (float& l : logits) l = scale * normal(gen);
  }
  return logits;
}

SamplingParams Params(float temperature, int32_t top_k = 0, float top_p = 1.0f,
                      float min_p = 0.0f) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  return p;
}

// Records the time per call and reports it against the argmax of the same logits.
void Report(benchmark::State& state, const std::string& name, const std::string& baseline,
            double seconds) {
  const double per_call = seconds / static_cast<double>(state.iterations());
  Times()[name] = per_call;
  const auto base = Times().find(baseline);
  if (base != Times().end()) state.counters["vs_argmax"] = per_call / base->second;
}

void BM_ArgMax(benchmark::State& state, std::string name, float scale) {
  const std::vector<float>& logits = Logits(scale);
  double seconds = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(ArgMax(logits));
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    seconds += dt;
  }
  Report(state, name, name, seconds);
}

void BM_Sampler(benchmark::State& state, std::string name, std::string baseline, float scale,
                SamplingParams params) {
  const std::vector<float>& logits = Logits(scale);
  Sampler sampler(params, 1);
  double seconds = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(sampler.Sample(logits));
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    seconds += dt;
  }
  Report(state, name, baseline, seconds);
}

// One decode step with every processing stage on: a 1000-token prompt for the repetition
// penalty, a frequency penalty, a logit bias, temperature, top-k, top-p and min-p.
void BM_SequenceStep(benchmark::State& state, std::string name, std::string baseline,
                     bool logprobs) {
  const std::vector<float>& logits = Logits(4.0f);
  std::vector<int32_t> prompt(1000);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(i * 37 % kVocab);
  SamplingParams p = Params(0.8f, 40, 0.95f, 0.05f);
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.3f;
  p.logit_bias = {{5, 2.0f}};
  p.max_tokens = kStepsPerSequence;
  p.ignore_eos = true;
  p.logprobs = logprobs;
  p.top_logprobs = logprobs ? 5 : 0;
  const std::vector<int32_t> eos = {0};
  auto sequence = std::make_unique<SequenceSampler>(p, prompt, eos);
  double seconds = 0.0;
  for (auto _ : state) {
    if (sequence->finished()) sequence = std::make_unique<SequenceSampler>(p, prompt, eos);
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(sequence->Next(logits).token);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    seconds += dt;
  }
  Report(state, name, baseline, seconds);
}

void Register() {
  struct Case {
    const char* name;
    SamplingParams params;
  };
  const Case cases[] = {{"greedy", Params(0.0f)},
                        {"temperature_only", Params(0.8f)},
                        {"top_k_40", Params(0.8f, 40)},
                        {"top_p_0.95", Params(0.8f, 0, 0.95f)},
                        {"min_p_0.05", Params(0.8f, 0, 1.0f, 0.05f)},
                        {"k40_p0.95_min0.05", Params(0.8f, 40, 0.95f, 0.05f)}};
  for (const auto& [shape, scale] : {std::pair{"peaked", 4.0f}, std::pair{"flat", 1.0f}}) {
    const std::string baseline = std::string("argmax/") + shape;
    benchmark::RegisterBenchmark(baseline.c_str(), BM_ArgMax, baseline, scale)
        ->Unit(benchmark::kMicrosecond)
        ->UseManualTime();
    for (const Case& c : cases) {
      const std::string name = std::string("sampler/") + shape + "/" + c.name;
      benchmark::RegisterBenchmark(name.c_str(), BM_Sampler, name, baseline, scale, c.params)
          ->Unit(benchmark::kMicrosecond)
          ->UseManualTime();
    }
  }
  for (bool logprobs : {false, true}) {
    const std::string name = logprobs ? "sequence_step/5_logprobs" : "sequence_step/no_logprobs";
    benchmark::RegisterBenchmark(name.c_str(), BM_SequenceStep, name, "argmax/peaked", logprobs)
        ->Unit(benchmark::kMicrosecond)
        ->UseManualTime();
  }
}

}  // namespace
}  // namespace xq

int main(int argc, char** argv) {
  xq::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
