// Decode attention over XQuant blocks per query token, SmolLM2-135M's shape (9 query heads, 3 KV
// heads, head_dim 64, G = 32), for the kv profiles fp16 / int8 / kivi-2 / xquant-1.38 at 1K-64K
// context; prints the times as ratios to fp16 measured in the same run. "warm" repeats one call so
// a layer's cache stays in L3 (at 16K fp16 holds 12 MiB); "cold" evicts the caches before each
// timed call, as serving does when 30 layers' caches take turns.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/cpu/xquant_attention_isa.h"
#include "kernels/include/xquant_kernels.h"

namespace xq {
namespace {

constexpr int64_t kKvHeads = 3, kHeads = 9, kDim = 64, kBlock = 32;

struct Profile {
  const char* name;
  int k_bits, v_bits;
  bool share_v;  // layer 1 reads layer 0's value codes
  float k_eta, v_eta;
  int64_t window;
};

const Profile kProfiles[] = {
    {"fp16", 16, 16, false, 0.0f, 0.0f, 0},
    {"int8", 8, 8, false, 0.0f, 0.0f, 128},
    {"kivi-2", 2, 2, false, 0.0f, 0.0f, 128},
    {"xquant-1.38", 2, 1, true, 0.045f, 1.0f / 6, 128},
};

// Seconds per call, by (profile, context, cold).
using Key = std::tuple<std::string, int64_t, bool>;
std::map<Key, double>& Times() {
  static std::map<Key, double> t;
  return t;
}

// Streams over more memory than the last-level cache holds. All OpenMP threads take part, so the
// kernel's workers are awake when it starts, as they are when serving runs layer after layer
// (otherwise the timing includes waking threads that slept through the eviction).
void EvictCaches() {
  static std::vector<uint8_t> junk(size_t{128} << 20, 1);
  const int64_t lines = static_cast<int64_t>(junk.size() / 64);
  uint8_t* const data = junk.data();
  unsigned sum = 0;
#pragma omp parallel for reduction(+ : sum)
  for (int64_t i = 0; i < lines; ++i) sum += ++data[i * 64];
  benchmark::DoNotOptimize(sum);
}

// Zeroed memory on transparent huge pages where the kernel grants them, as a serving arena is: with
// 4 KiB pages a cold pass over scattered blocks pays a page walk per block.
class HugeBuffer {
 public:
  void Allocate(int64_t bytes) {
    constexpr size_t kHuge = size_t{2} << 20;
    size_ = (static_cast<size_t>(bytes) + kHuge - 1) / kHuge * kHuge;
    data_.reset(static_cast<uint8_t*>(std::aligned_alloc(kHuge, size_)));
    madvise(data_.get(), size_, MADV_HUGEPAGE);
    std::memset(data_.get(), 0, size_);
  }
  uint8_t* data() { return data_.get(); }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

struct Setup {
  KvBlockLayout layout;
  HugeBuffer arena;
  std::vector<int32_t> table, window_pages;
  std::vector<float> q, out;
  XqAttentionParams p;
};

// Layer 1 of a two-layer cache holding `context` tokens, the last one being decoded.
void Build(const Profile& pr, int64_t context, Setup& s) {
  KvLayerSpec l0{{pr.k_bits, false, pr.k_eta}, {pr.v_bits, false, pr.v_eta}};
  KvLayerSpec l1{{pr.k_bits, false, pr.k_eta}, {pr.v_bits, pr.share_v, pr.v_eta}};
  const KvLayerSpec layers[] = {l0, l1};
  s.layout = MakeKvBlockLayout(kKvHeads, kDim, kBlock, layers, 2);
  const int64_t frontier = QuantizedFrontier(context, pr.window, kBlock);
  const int64_t blocks = frontier / kBlock, row = kKvHeads * kDim;
  std::mt19937 rng(3);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<_Float16> k(kBlock * row), v(kBlock * row);
  const int64_t window = context - frontier;
  const int64_t pages =
      (window + kBlock - 1) / kBlock * s.layout.window_pages_per_block;  // after the blocks
  s.arena.Allocate((blocks + pages) * s.layout.block_bytes);
  s.table.resize(blocks);
  for (int64_t b = 0; b < blocks; ++b) {
    s.table[b] = static_cast<int32_t>(b);
    for (int64_t l = 0; l < 2; ++l) {
      for (auto& x : k) x = static_cast<_Float16>(n01(rng));
      for (auto& x : v) x = static_cast<_Float16>(n01(rng));
      XqQuantizeBlockLayer(s.layout, l, reinterpret_cast<const Fp16*>(k.data()),
                           reinterpret_cast<const Fp16*>(v.data()),
                           s.arena.data() + b * s.layout.block_bytes);
    }
  }
  // Window pages: random fp16 rows throughout (which row is which does not matter for speed).
  auto* halves = reinterpret_cast<_Float16*>(s.arena.data() + blocks * s.layout.block_bytes);
  for (int64_t i = 0; i < pages * s.layout.block_bytes / 2; ++i) {
    halves[i] = static_cast<_Float16>(n01(rng));
  }
  for (int64_t i = 0; i < pages; ++i) s.window_pages.push_back(static_cast<int32_t>(blocks + i));
  s.q.resize(kHeads * kDim);
  for (auto& x : s.q) x = n01(rng);
  s.out.resize(kHeads * kDim);
  XqAttentionParams& p = s.p;
  p.layout = &s.layout;
  p.layer = 1;
  p.arena = s.arena.data();
  p.block_table = s.table.data();
  p.num_blocks = blocks;
  p.window_pages = s.window_pages.data();
  p.window_start = frontier;
  p.window_len = window;
  p.q = s.q.data();
  p.n = 1;
  p.num_heads = kHeads;
  p.recent_window = pr.window;
  p.scale = 1.0f / std::sqrt(static_cast<float>(kDim));
  p.out = s.out.data();
}

void BM_Decode(benchmark::State& state, Profile pr, bool cold) {
  const int64_t context = state.range(0);
  Setup s;
  Build(pr, context, s);
  XqAttention(s.p);  // warm: buffers, threads
  double seconds = 0.0;
  for (auto _ : state) {
    if (cold) EvictCaches();
    const auto t0 = std::chrono::steady_clock::now();
    XqAttention(s.p);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(s.out.data());
    state.SetIterationTime(dt);
    seconds += dt;
  }
  const double per_call = seconds / static_cast<double>(state.iterations());
  Times()[{pr.name, context, cold}] = per_call;
  const auto base = Times().find({"fp16", context, cold});
  if (base != Times().end()) state.counters["vs_fp16"] = per_call / base->second;
  state.counters["kv_bytes_per_token"] = static_cast<double>(s.layout.block_bytes) / 2 / kBlock;
}

void Register() {
  for (bool cold : {false, true}) {
    for (int64_t context : {1024, 4096, 16384, 65536}) {
      for (const Profile& pr : kProfiles) {
        const std::string name = std::string(cold ? "cold/" : "warm/") + pr.name;
        auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Decode, pr, cold)
                      ->Arg(context)
                      ->Unit(benchmark::kMicrosecond)
                      ->UseManualTime();
        if (cold) b->Iterations(40);
      }
    }
  }
}

void PrintTable(bool cold) {
  std::printf("\ndecode attention per query token (%s caches), time and ratio to fp16\n",
              cold ? "cold" : "warm");
  std::printf("%-8s", "context");
  for (const Profile& pr : kProfiles) std::printf(" %16s", pr.name);
  std::printf("\n");
  for (int64_t context : {1024, 4096, 16384, 65536}) {
    const auto base = Times().find({"fp16", context, cold});
    if (base == Times().end()) continue;
    std::printf("%-8lld", static_cast<long long>(context));
    for (const Profile& pr : kProfiles) {
      const auto t = Times().find({pr.name, context, cold});
      if (t == Times().end()) {
        std::printf(" %16s", "-");
      } else {
        std::printf(" %8.1fus %5.2fx", t->second * 1e6, t->second / base->second);
      }
    }
    std::printf("\n");
  }
}

}  // namespace
}  // namespace xq

int main(int argc, char** argv) {
  // XQ_BENCH_ISA=avx2 (or avx512, scalar) times that path instead of the best the CPU has.
  if (const char* isa = std::getenv("XQ_BENCH_ISA")) {
    const std::string name = isa;
    const xq::XqAttentionIsa want = name == "avx2"     ? xq::XqAttentionIsa::kAvx2
                                    : name == "avx512" ? xq::XqAttentionIsa::kAvx512
                                    : name == "scalar" ? xq::XqAttentionIsa::kScalar
                                                       : xq::XqAttentionIsa::kAuto;
    if (want == xq::XqAttentionIsa::kAuto || !xq::ForceXqAttentionIsa(want)) {
      std::fprintf(stderr, "XQ_BENCH_ISA=%s: unknown or not supported by this CPU\n", isa);
      return 1;
    }
  }
  xq::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  xq::PrintTable(false);
  xq::PrintTable(true);
  return 0;
}
