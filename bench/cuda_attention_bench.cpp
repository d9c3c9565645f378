// Decode attention on the GPU over the paged XQuant cache (kernels/cuda/xquant_attention), one
// layer of Llama-3-8B's shape (32 query heads, 8 KV heads, head_dim 128, G = 32): fp16 against
// xquant-1.38 (K 2-bit, V 1-bit codes shared with the layer below, a 128-token fp16 window) at
// 8K and 32K context, batch 1, 32 and 256. Prints one JSON line per case: time per call, the
// bytes the kernel must read (compressed blocks + window rows of the layer) per second, that as
// a fraction of the device's HBM bandwidth (--peak-gbs, default the H200's 4800), and xquant's
// speed-up over fp16 at the same shape. Then prefill: a 512-row chunk at the end of an 8K
// context, its rows attended one CUDA block each, in CUDA-core tiles that share each key and
// value, and in tensor-core tiles (PlanAttentionTiles), as time ratios, and the tensor-core
// tiles' attention TFLOP/s. Needs a GPU (tests/gpu/run_all.sh runs it).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/ops.h"
#include "kernels/include/xquant_format.h"

namespace xq {
namespace {

constexpr int64_t kHeads = 32, kKvHeads = 8, kDim = 128, kBlock = 32;

void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

struct Profile {
  const char* name;
  int k_bits, v_bits;
  bool share_v;
  int64_t window;
};

KvBlockLayout MakeLayout(const Profile& p) {
  KvLayerSpec layers[2];
  for (int l = 0; l < 2; ++l) {
    layers[l].k.bits = p.k_bits;
    layers[l].v.bits = p.v_bits;
    layers[l].v.shares_codes = p.share_v && l == 1;
  }
  return MakeKvBlockLayout(kKvHeads, kDim, kBlock, layers, 2);
}

// Bytes one compressed block contributes to attending layer 1: its K and V codes (V maybe the
// layer below's) and params, or the raw fp16 keys and values.
int64_t BlockBytesRead(const Profile& p) {
  auto slot = [](int bits) {
    return bits == kFp16Bits ? kKvHeads * kBlock * kDim * 2
                             : kKvHeads * kDim * kBlock * bits / 8 + kKvHeads * kDim * 4;
  };
  return slot(p.k_bits) + slot(p.v_bits);
}

// Device allocations of one case, freed together.
class Allocations {
 public:
  ~Allocations() {
    for (void* p : ptrs_) cudaFree(p);
  }
  template <typename T>
  T* Alloc(size_t count) {
    void* p = nullptr;
    Check(cudaMalloc(&p, std::max<size_t>(1, count * sizeof(T))), "cudaMalloc");
    ptrs_.push_back(p);
    return static_cast<T*>(p);
  }
  template <typename T>
  T* Upload(const std::vector<T>& v) {
    T* p = Alloc<T>(v.size());
    Check(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
    return p;
  }

 private:
  std::vector<void*> ptrs_;
};

struct Result {
  double seconds, bytes;
};

// `batch` sequences of `context` positions, the last `rows` of each the step's query rows (1:
// decode); with a tile kernel, prefill rows in its tiles.
Result Run(const Profile& prof, int64_t context, int64_t batch, int64_t rows = 1,
           std::optional<cuda::TileKernel> tiled = std::nullopt) {
  const KvBlockLayout L = MakeLayout(prof);
  const int64_t R = prof.window, P = L.window_pages_per_block;
  // The first row's frontier: the window starts there; the last row's: blocks end there.
  const int64_t frontier = QuantizedFrontier(context - rows + 1, R, kBlock);
  const int64_t blocks = QuantizedFrontier(context, R, kBlock) / kBlock;
  const int64_t window_blocks = (context - frontier + kBlock - 1) / kBlock;
  const int64_t per_seq = blocks + window_blocks * P;
  const int64_t total_blocks = per_seq * batch;
  // Every sequence gets its own blocks, in shuffled order as a pool hands them out.
  std::vector<int32_t> ids(total_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(1));
  std::vector<int64_t> qo(batch + 1), kv_len(batch, context), block_indptr(batch + 1),
      window_indptr(batch + 1), window_start(batch, frontier);
  std::vector<int32_t> block_ids, window_pages;
  for (int64_t s = 0; s < batch; ++s) {
    qo[s + 1] = (s + 1) * rows;
    const int32_t* mine = ids.data() + s * per_seq;
    block_ids.insert(block_ids.end(), mine, mine + blocks);
    window_pages.insert(window_pages.end(), mine + blocks, mine + per_seq);
    block_indptr[s + 1] = static_cast<int64_t>(block_ids.size());
    window_indptr[s + 1] = static_cast<int64_t>(window_pages.size());
  }
  Allocations mem;
  const size_t arena_bytes = static_cast<size_t>(total_blocks) * L.block_bytes;
  uint8_t* arena = mem.Alloc<uint8_t>(arena_bytes);
  // 0x3C3C is 1.06 in fp16: finite scales, zero points and values; any code pattern.
  Check(cudaMemset(arena, 0x3C, arena_bytes), "fill");
  const int64_t total_rows = batch * rows;
  std::vector<float> q_host(total_rows * kHeads * kDim, 0.01f);
  float* q = mem.Upload(q_host);
  float* out = mem.Alloc<float>(q_host.size());
  const KvBlockLayout* layout = mem.Upload(std::vector<KvBlockLayout>{L});

  XqBatchAttentionParams p;
  p.kv.layout = layout;
  p.kv.arena = arena;
  p.kv.num_seqs = batch;
  p.kv.qo_indptr = mem.Upload(qo);
  p.kv.kv_len = mem.Upload(kv_len);
  p.kv.block_indptr = mem.Upload(block_indptr);
  p.kv.block_ids = mem.Upload(block_ids);
  p.kv.window_indptr = mem.Upload(window_indptr);
  p.kv.window_pages = mem.Upload(window_pages);
  p.kv.window_start = mem.Upload(window_start);
  p.layer = 1;
  p.q = q;
  p.num_heads = kHeads;
  p.recent_window = R;
  p.scale = 1.0f / std::sqrt(static_cast<float>(kDim));
  p.out = out;

  cudaEvent_t start, stop;
  Check(cudaEventCreate(&start), "event");
  Check(cudaEventCreate(&stop), "event");
  const cuda::AttentionSplit split = cuda::PlanAttentionSplit(total_rows, kKvHeads, context);
  float* workspace = mem.Alloc<float>(
      static_cast<size_t>(cuda::AttentionWorkspaceFloats(total_rows, kHeads, kDim, split)));
  cuda::AttentionTiles tiles;
  if (tiled) {
    const cuda::AttentionTilePlan plan =
        cuda::PlanAttentionTiles(qo, kv_len, kHeads, kKvHeads, kDim, R, kBlock, *tiled);
    tiles = {mem.Upload(plan.tiles), static_cast<int64_t>(plan.tiles.size() / 2),
             mem.Upload(plan.rows), static_cast<int64_t>(plan.rows.size()), *tiled};
  }
  auto attend = [&] {
    cuda::LaunchXqAttention(p, total_rows, kDim, kKvHeads, split, workspace, nullptr, tiles);
  };
  for (int i = 0; i < 3; ++i) attend();
  constexpr int kCalls = 10;
  Check(cudaEventRecord(start), "record");
  for (int i = 0; i < kCalls; ++i) attend();
  Check(cudaEventRecord(stop), "record");
  Check(cudaEventSynchronize(stop), "run");
  Check(cudaGetLastError(), "kernel");
  float ms = 0;
  Check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
  const double window_bytes = double(context - frontier) * kKvHeads * kDim * 2 * 2;
  const double bytes = batch * (double(blocks) * BlockBytesRead(prof) + window_bytes);

  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return {ms / 1e3 / kCalls, bytes};
}

}  // namespace
}  // namespace xq

int main(int argc, char** argv) {
  double peak_gbs = 4800;  // H200 HBM3e
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--peak-gbs") peak_gbs = std::atof(argv[i + 1]);
  }
  const xq::Profile fp16{"fp16", xq::kFp16Bits, xq::kFp16Bits, false, 0};
  const xq::Profile xquant{"xquant-1.38", 2, 1, true, 128};
  try {
    for (int64_t context : {8192, 32768}) {
      for (int64_t batch : {1, 32, 256}) {
        const xq::Result base = xq::Run(fp16, context, batch);
        const xq::Result x = xq::Run(xquant, context, batch);
        for (const auto& [prof, r] : {std::pair{&fp16, base}, std::pair{&xquant, x}}) {
          const double gbs = r.bytes / r.seconds / 1e9;
          std::printf(
              "{\"profile\": \"%s\", \"context\": %ld, \"batch\": %ld, \"us_per_call\": %.1f, "
              "\"bytes\": %.0f, \"gb_per_s\": %.1f, \"of_peak\": %.3f, \"speedup_vs_fp16\": "
              "%.3f}\n",
              prof->name, static_cast<long>(context), static_cast<long>(batch), r.seconds * 1e6,
              r.bytes, gbs, gbs / peak_gbs, base.seconds / r.seconds);
        }
        std::fflush(stdout);
      }
    }
    constexpr int64_t kContext = 8192, kChunk = 512;
    // Scores and weighted values: 2 x 2 x head_dim flops per (row, query head, position).
    const double flops =
        4.0 * xq::kHeads * xq::kDim * (kChunk * (kContext - kChunk) + kChunk * (kChunk + 1) / 2.0);
    for (const xq::Profile* prof : {&fp16, &xquant}) {
      const xq::Result alone = xq::Run(*prof, kContext, 1, kChunk);
      const xq::Result tiles =
          xq::Run(*prof, kContext, 1, kChunk, xq::cuda::TileKernel::kCudaCores);
      const xq::Result tensor =
          xq::Run(*prof, kContext, 1, kChunk, xq::cuda::TileKernel::kTensorCores);
      std::printf(
          "{\"prefill\": true, \"profile\": \"%s\", \"context\": %ld, \"chunk\": %ld, "
          "\"us_rows_alone\": %.1f, \"us_tiles\": %.1f, \"tiles_speedup\": %.3f, "
          "\"us_tensor_core_tiles\": %.1f, \"tensor_core_speedup\": %.3f, "
          "\"tensor_core_tflops\": %.1f}\n",
          prof->name, static_cast<long>(kContext), static_cast<long>(kChunk), alone.seconds * 1e6,
          tiles.seconds * 1e6, alone.seconds / tiles.seconds, tensor.seconds * 1e6,
          alone.seconds / tensor.seconds, flops / tensor.seconds / 1e12);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_attention_bench: %s\n", e.what());
    return 1;
  }
}
