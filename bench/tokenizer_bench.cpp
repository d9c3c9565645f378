// The default model's tokenizer (SmolLM2, byte-level BPE) on ~100 KB of mixed text: Encode,
// Decode, and the pre-tokenizer's regex split alone, which every Encode pays first; Encode and
// Decode are also given as ratios to that split measured in the same run. The model is
// $XQ_MODEL, or the default one `make model` fetches. This timing used to be a wall-clock
// assertion in tests/engine/tokenizer, which flaked when ctest ran suites side by side.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {
namespace {

double split_seconds = 0.0;  // per call, the baseline

const std::string& HundredKilobytes() {
  static const std::string text = [] {
    std::string t;
    for (int i = 0; t.size() < 100 * 1024; ++i) {
      t += "Paragraph " + std::to_string(i) + ": The quick brown fox jumps over the lazy dog; " +
           "naïve café — 東京 " + std::to_string(i * 7919) + " tokens/s, λx.x+" +
           std::to_string(i % 97) + "\n";
    }
    return t;
  }();
  return text;
}

void Report(benchmark::State& state, double seconds_per_call) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * HundredKilobytes().size()));
  if (split_seconds > 0) state.counters["vs_split"] = seconds_per_call / split_seconds;
}

double SecondsPerCall(const benchmark::State& state, double total) {
  return total / static_cast<double>(state.iterations());
}

void BM_PreTokenizerSplit(benchmark::State& state, const Tokenizer* tokenizer) {
  // The regexes Tokenizer itself picks: the spec's own, else its pre family's.
  const TokenizerSpec& spec = tokenizer->spec();
  const PreTokenizer pre(spec.pre_regexes.empty() ? PreTokenizer::RegexesForPre(spec.pre)
                                                  : spec.pre_regexes);
  const std::string& text = HundredKilobytes();
  double total = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(pre.Split(text).size());
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  split_seconds = SecondsPerCall(state, total);
  Report(state, split_seconds);
}

void BM_Encode(benchmark::State& state, const Tokenizer* tokenizer) {
  const std::string& text = HundredKilobytes();
  double total = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(tokenizer->Encode(text, false).size());
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  Report(state, SecondsPerCall(state, total));
}

void BM_Decode(benchmark::State& state, const Tokenizer* tokenizer) {
  const std::vector<int32_t> ids = tokenizer->Encode(HundredKilobytes(), false);
  double total = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(tokenizer->Decode(ids).size());
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  Report(state, SecondsPerCall(state, total));
}

}  // namespace
}  // namespace xq

int main(int argc, char** argv) {
  const char* env = std::getenv("XQ_MODEL");
  const std::string model = env ? env : XQ_DEFAULT_MODEL;
  if (!std::filesystem::exists(model)) {
    std::fprintf(stderr, "%s is missing: run `make model`, or set XQ_MODEL to a GGUF file\n",
                 model.c_str());
    return 1;
  }
  const xq::GgufFile file(model);
  const auto tokenizer = std::make_unique<xq::Tokenizer>(xq::TokenizerSpecFromGguf(file));
  // The baseline first: the ratios need its time.
  benchmark::RegisterBenchmark("pre_tokenizer_split", xq::BM_PreTokenizerSplit, tokenizer.get())
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("encode", xq::BM_Encode, tokenizer.get())
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("decode", xq::BM_Decode, tokenizer.get())
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
