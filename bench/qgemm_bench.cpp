// Quantized matmul (activation quantization included) vs OpenBLAS sgemv/sgemm on fp32 weights of
// the same shape, measured in one run; SmolLM2-135M shapes (out x in) at decode and prefill rows.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/include/qgemm.h"
#include "kernels/reference/half.h"

namespace xq {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> RandomBlocks(QWeightType t, int64_t out, int64_t in, std::mt19937& rng) {
  std::vector<uint8_t> w(out * (in / 32) * QWeightBlockBytes(t));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const uint16_t d = FloatToHalf(0.01f), m = FloatToHalf(-0.08f);
  for (size_t i = 0; i < w.size(); i += QWeightBlockBytes(t)) {
    std::memcpy(&w[i], &d, 2);
    if (t == QWeightType::kQ4_1) std::memcpy(&w[i + 2], &m, 2);
  }
  return w;
}

// Args: out, in, rows.
template <QWeightType T>
void BM_QGemm(benchmark::State& state) {
  const int64_t out = state.range(0), in = state.range(1), rows = state.range(2);
  std::mt19937 rng(1);
  const auto w = RandomBlocks(T, out, in, rng);
  const auto x = Random(rows * in, rng);
  std::vector<uint8_t> xq(QuantizedActivationBytes(T, rows, in));
  std::vector<float> y(rows * out);
  for (auto _ : state) {
    QuantizeActivations(T, x.data(), rows, in, xq.data());
    QGemm({T, w.data(), out, in, xq.data(), rows, y.data(), false});
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weight_MB"] = w.size() / 1e6;
}

void BM_OpenBlas(benchmark::State& state) {
  const int64_t out = state.range(0), in = state.range(1), rows = state.range(2);
  std::mt19937 rng(1);
  const auto w = Random(out * in, rng);
  const auto x = Random(rows * in, rng);
  std::vector<float> y(rows * out);
  for (auto _ : state) {
    if (rows == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w.data(), in, x.data(), 1, 0.0f,
                  y.data(), 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x.data(), in,
                  w.data(), in, 0.0f, y.data(), out);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weight_MB"] = w.size() * 4 / 1e6;
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"out", "in", "rows"})->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (int64_t rows : {1, 64, 512}) {
    for (auto [out, in] : {std::pair{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}}) {
      b->Args({out, in, rows});
    }
  }
}

BENCHMARK(BM_QGemm<QWeightType::kQ4_1>)->Apply(Shapes);
BENCHMARK(BM_QGemm<QWeightType::kQ4_0>)->Apply(Shapes);
BENCHMARK(BM_QGemm<QWeightType::kQ8_0>)->Apply(Shapes);
BENCHMARK(BM_OpenBlas)->Apply(Shapes);

}  // namespace
}  // namespace xq

BENCHMARK_MAIN();
