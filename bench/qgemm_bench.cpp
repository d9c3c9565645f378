// Quantized matmul (activation quantization included) vs OpenBLAS sgemv/sgemm on fp32 weights of
// the same shape, measured in one run; SmolLM2-135M shapes (out x in) at 1 to 512 rows. Each
// quantized run reports its int8 multiply-adds per second (GMAC/s: rows x out x in per call) and
// that as a fraction of this CPU's int8 peak (peak_fraction), measured once in the same binary on
// all compute threads with the best int8 dot-product instructions the CPU has: AVX-512 VNNI
// (vpdpbusd), else AVX2 (vpmaddubsw + vpmaddwd + vpaddd, how ggml and we multiply on AVX2).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <immintrin.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/qgemm_isa.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/include/qgemm.h"
#include "kernels/include/thread_pool.h"
#include "kernels/reference/half.h"

namespace xq {
namespace {

// Independent accumulators, operands opaque to the compiler each round: nothing is hoisted, and
// the loop runs at the instructions' throughput. Returns multiply-adds done.
__attribute__((target("avx2"))) int64_t Int8MacsAvx2(int64_t rounds) {
  __m256i a = _mm256_set1_epi8(1);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i b[6], acc[6];
  for (int k = 0; k < 6; ++k) {
    b[k] = _mm256_set1_epi8(static_cast<char>(k + 1));
    acc[k] = _mm256_setzero_si256();
  }
  for (int64_t r = 0; r < rounds; ++r) {
    asm volatile("" : "+x"(a));
    for (int k = 0; k < 6; ++k) {
      acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b[k]), ones));
    }
  }
  for (int k = 1; k < 6; ++k) acc[0] = _mm256_add_epi32(acc[0], acc[k]);
  benchmark::DoNotOptimize(acc[0]);
  return rounds * 6 * 32;
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t Int8MacsVnni(int64_t rounds) {
  __m512i a = _mm512_set1_epi8(1);
  __m512i b[8], acc[8];
  for (int k = 0; k < 8; ++k) {
    b[k] = _mm512_set1_epi8(static_cast<char>(k + 1));
    acc[k] = _mm512_setzero_si512();
  }
  for (int64_t r = 0; r < rounds; ++r) {
    asm volatile("" : "+v"(a));
    for (int k = 0; k < 8; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b[k]);
  }
  for (int k = 1; k < 8; ++k) acc[0] = _mm512_add_epi32(acc[0], acc[k]);
  benchmark::DoNotOptimize(acc[0]);
  return rounds * 8 * 64;
}

// This CPU's int8 multiply-adds per second on every compute thread at once (best of 5).
double Int8PeakMacsPerSecond() {
  static const double peak = [] {
    const bool vnni = __builtin_cpu_supports("avx512vnni");
    ThreadPool& pool = ComputePool();
    double best = 0;
    for (int trial = 0; trial < 5; ++trial) {
      std::vector<int64_t> macs(pool.threads());
      const auto t0 = std::chrono::steady_clock::now();
      pool.ParallelFor(pool.threads(), Schedule::kStatic, [&](int64_t t) {
        macs[t] = vnni ? Int8MacsVnni(20'000'000) : Int8MacsAvx2(20'000'000);
      });
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double total = 0;
      for (int64_t m : macs) total += static_cast<double>(m);
      best = std::max(best, total / s);
    }
    std::fprintf(stderr, "int8 peak (%s, %d threads): %.1f GMAC/s\n",
                 vnni ? "AVX-512 VNNI" : "AVX2", pool.threads(), best / 1e9);
    return best;
  }();
  return peak;
}

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> RandomBlocks(QWeightType t, int64_t out, int64_t in, std::mt19937& rng) {
  std::vector<uint8_t> w(out * QWeightRowBytes(t, in));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const uint16_t d = FloatToHalf(0.01f), m = FloatToHalf(-0.08f), dmin = FloatToHalf(0.001f);
  for (size_t i = 0; i < w.size(); i += QWeightBlockBytes(t)) {
    std::memcpy(&w[i + (t == QWeightType::kQ6_K ? offsetof(BlockQ6_K, d) : 0)], &d, 2);
    if (t == QWeightType::kQ4_1) std::memcpy(&w[i + 2], &m, 2);
    if (t == QWeightType::kQ4_K) std::memcpy(&w[i + 2], &dmin, 2);
  }
  return w;
}

// Args: out, in, rows.
template <QWeightType T>
void BM_QGemm(benchmark::State& state) {
  const int64_t out = state.range(0), in = state.range(1), rows = state.range(2);
  std::mt19937 rng(1);
  const auto blocks = RandomBlocks(T, out, in, rng);
  // As the CPU runner holds them: packed once at load when the CPU can (PackForCpuKernels).
  const bool packed = CanPackQWeights();
  std::vector<uint8_t> w = blocks;
  if (packed) {
    w.resize(PackedQWeightBytes(T, out, in));
    PackQWeights(T, blocks.data(), out, in, w.data());
  }
  const auto x = Random(rows * in, rng);
  std::vector<uint8_t> xq(QuantizedActivationBytes(T, rows, in));
  std::vector<float> y(rows * out);
  const double peak = Int8PeakMacsPerSecond();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    QuantizeActivations(T, x.data(), rows, in, xq.data());
    QGemm({T, w.data(), out, in, xq.data(), rows, y.data(), false, packed});
    benchmark::DoNotOptimize(y.data());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double macs_per_s = static_cast<double>(state.iterations()) * rows * out * in / s;
  state.counters["weight_MB"] = w.size() / 1e6;
  state.counters["GMAC/s"] = macs_per_s / 1e9;
  state.counters["peak_fraction"] = macs_per_s / peak;
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
  for (int64_t rows : {1, 8, 32, 128, 512}) {
    for (auto [out, in] : {std::pair{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}}) {
      b->Args({out, in, rows});
    }
  }
}

// Llama-3.2-1B shapes, whose rows are whole K-quant blocks: K-quants against the types a
// Q4_K_M file was transcoded to before they ran in their own blocks (Q4_1, Q8_0).
void KQuantShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"out", "in", "rows"})->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (int64_t rows : {1, 8, 128}) {
    for (auto [out, in] : {std::pair{2048, 2048}, {8192, 2048}, {2048, 8192}}) {
      b->Args({out, in, rows});
    }
  }
}

BENCHMARK(BM_QGemm<QWeightType::kQ4_K>)->Apply(KQuantShapes);
BENCHMARK(BM_QGemm<QWeightType::kQ4_1>)->Apply(KQuantShapes);
BENCHMARK(BM_QGemm<QWeightType::kQ6_K>)->Apply(KQuantShapes);
BENCHMARK(BM_QGemm<QWeightType::kQ8_0>)->Apply(KQuantShapes);
BENCHMARK(BM_QGemm<QWeightType::kQ4_1>)->Apply(Shapes);
BENCHMARK(BM_QGemm<QWeightType::kQ4_0>)->Apply(Shapes);
BENCHMARK(BM_QGemm<QWeightType::kQ8_0>)->Apply(Shapes);
BENCHMARK(BM_OpenBlas)->Apply(Shapes);

// XQ_QGEMM_ISA=avx2|avx512-vnni|scalar runs that path instead of the best this CPU has, so that
// paths compare on one machine.
void SelectIsa() {
  const char* env = std::getenv("XQ_QGEMM_ISA");
  const std::string want = env ? env : "";
  const QGemmIsa isa = want == "avx2"          ? QGemmIsa::kAvx2
                       : want == "avx512-vnni" ? QGemmIsa::kAvx512Vnni
                       : want == "scalar"      ? QGemmIsa::kScalar
                                               : QGemmIsa::kAuto;
  if (!ForceQGemmIsa(isa)) {
    std::fprintf(stderr, "XQ_QGEMM_ISA=%s: this CPU cannot run it\n", want.c_str());
    std::exit(2);
  }
  const QGemmIsa active = ActiveQGemmIsa();
  std::fprintf(stderr, "QGemm path: %s\n",
               active == QGemmIsa::kAvx512Vnni ? "avx512-vnni"
               : active == QGemmIsa::kAvx2     ? "avx2"
                                               : "scalar");
}

}  // namespace
}  // namespace xq

int main(int argc, char** argv) {
  xq::SelectIsa();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
