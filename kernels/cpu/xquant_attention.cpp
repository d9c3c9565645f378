// XQuant attention driver: CPU dispatch and the split into (query, KV head, position chunk) work
// items. Phases per batch of queries: scores, softmax per (query, head), values into per-item
// partial sums, then the partials of each (query, KV head) summed in position order. Chunking the
// positions keeps both cores busy in decode, where there are only a few KV heads.

#include <algorithm>
#include <atomic>
#include <cassert>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/include/thread_pool.h"
#include "kernels/cpu/xquant_attention_avx2.h"
#include "kernels/cpu/xquant_attention_avx512.h"
#include "kernels/cpu/xquant_attention_isa.h"
#include "kernels/include/xquant_kernels.h"

namespace xq {
namespace {

using xq_attn::AttnCtx;
using xq_attn::Item;
using xq_attn::Kernels;

bool HasAvx2() { return DetectedCpuFeatures().avx2; }
bool HasAvx512() { return DetectedCpuFeatures().avx512; }

XqAttentionIsa BestIsa() {
  return HasAvx512() ? XqAttentionIsa::kAvx512
         : HasAvx2() ? XqAttentionIsa::kAvx2
                     : XqAttentionIsa::kScalar;
}

std::atomic<XqAttentionIsa> forced_isa{XqAttentionIsa::kAuto};

constexpr Kernels kAvx512Kernels = {xq_avx512::Supports, xq_avx512::Scores, xq_avx512::Softmax,
                                    xq_avx512::Values};
constexpr Kernels kAvx2Kernels = {xq_avx2::Supports, xq_avx2::Scores, xq_avx2::Softmax,
                                  xq_avx2::Values};

// Scores of a batch of queries held at once (floats); bounds memory in long prefill chunks.
constexpr int64_t kScoreBudget = int64_t{8} << 20;
// Work items per thread wanted in decode; smaller chunks than this gain nothing.
constexpr int64_t kItemsPerThread = 8;
constexpr int64_t kMinChunk = 256;
// Below this many (query head, position) pairs one thread is faster than a parallel region.
constexpr int64_t kMinParallelWork = 8192;


}  // namespace

bool ForceXqAttentionIsa(XqAttentionIsa isa) {
  const bool ok = isa == XqAttentionIsa::kAuto || isa == XqAttentionIsa::kScalar ||
                  (isa == XqAttentionIsa::kAvx2 && HasAvx2()) ||
                  (isa == XqAttentionIsa::kAvx512 && HasAvx512());
  if (ok) forced_isa.store(isa, std::memory_order_relaxed);
  return ok;
}

XqAttentionIsa ActiveXqAttentionIsa() {
  const XqAttentionIsa isa = forced_isa.load(std::memory_order_relaxed);
  return isa == XqAttentionIsa::kAuto ? BestIsa() : isa;
}

void XqAttention(const XqAttentionParams& p) {
  if (p.n <= 0) return;
  const KvBlockLayout& L = *p.layout;
  const XqAttentionIsa isa = ActiveXqAttentionIsa();
  const Kernels& k = isa == XqAttentionIsa::kAvx512 ? kAvx512Kernels : kAvx2Kernels;
  if (isa == XqAttentionIsa::kScalar || !k.supports(L)) {
    XqAttentionPaths().Count(KernelPath::kReference);
    return XqAttentionReference(p);
  }
  XqAttentionPaths().Count(isa == XqAttentionIsa::kAvx512 ? KernelPath::kAvx512
                                                          : KernelPath::kAvx2);
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  const int64_t length = p.window_start + p.window_len;
  assert(p.layer >= 0 && p.layer < L.num_layers);
  assert(p.num_heads % H == 0 && p.n <= length && p.window_start <= p.num_blocks * G);

  AttnCtx c;
  c.p = &p;
  c.k = SlotViewOf(L, p.layer, true);
  c.v = SlotViewOf(L, p.layer, false);
  c.H = H;
  c.D = D;
  c.G = G;
  c.heads_per_kv = p.num_heads / H;
  c.score_stride = (length + 15) / 16 * 16;
  const int64_t gq = c.heads_per_kv;

  // Work items are sized for the threads that will run them (one when nested in a region).
  const int threads = ThreadPool::InsideParallelFor() ? 1 : ComputePool().threads();
  const int64_t batch = std::clamp<int64_t>(kScoreBudget / (p.num_heads * c.score_stride), 1, p.n);
  thread_local std::vector<float> scores, partials;
  thread_local std::vector<Item> items;
  thread_local std::vector<int64_t> first_item;  // per (query, KV head) of the batch, + end
  scores.resize(batch * p.num_heads * c.score_stride);

  for (int64_t t0 = 0; t0 < p.n; t0 += batch) {
    const int64_t nb = std::min(batch, p.n - t0);
    const int64_t want = kItemsPerThread * threads;
    const int64_t per_query = (want + nb * H - 1) / (nb * H);
    const int64_t span = (length + per_query - 1) / per_query;
    const int64_t chunk = std::max(kMinChunk, (span + G - 1) / G * G);
    items.clear();
    first_item.clear();
    for (int64_t t = t0; t < t0 + nb; ++t) {
      const int64_t pos = length - p.n + t;
      const int64_t frontier = QuantizedFrontier(pos + 1, p.recent_window, G);
      assert(frontier <= p.num_blocks * G && p.window_start <= frontier);
      for (int64_t g = 0; g < H; ++g) {
        first_item.push_back(static_cast<int64_t>(items.size()));
        for (int64_t a = 0; a <= pos; a += chunk) {
          items.push_back({t, g, a, std::min(a + chunk, pos + 1), frontier, SinkEnd(L, frontier)});
        }
      }
    }
    first_item.push_back(static_cast<int64_t>(items.size()));
    partials.resize(items.size() * gq * D);

    // The thread_local buffers belong to the calling thread: workers see them through these.
    float* const score_buf = scores.data();
    float* const partial_buf = partials.data();
    const Item* const item_buf = items.data();
    const int64_t* const first = first_item.data();
    const int64_t num_items = static_cast<int64_t>(items.size());
    const int64_t rows = nb * p.num_heads;
    auto row_scores = [&](int64_t t, int64_t h) {
      return score_buf + ((t - t0) * p.num_heads + h) * c.score_stride;
    };
    const bool parallel = nb * p.num_heads * length >= kMinParallelWork && threads > 1;
    ThreadPool& pool = ComputePool();
    pool.ParallelFor(
        num_items, Schedule::kDynamic,
        [&](int64_t i) {
          const Item& it = item_buf[i];
          k.scores(c, it, row_scores(it.t, it.g * gq));
        },
        parallel);
    pool.ParallelFor(
        rows, Schedule::kStatic,
        [&](int64_t r) {
          const int64_t t = t0 + r / p.num_heads;
          k.softmax(row_scores(t, r % p.num_heads), length - p.n + t + 1);
        },
        parallel);
    pool.ParallelFor(
        num_items, Schedule::kDynamic,
        [&](int64_t i) {
          const Item& it = item_buf[i];
          k.values(c, it, row_scores(it.t, it.g * gq), partial_buf + i * gq * D);
        },
        parallel);
    pool.ParallelFor(
        nb * H, Schedule::kStatic,
        [&](int64_t r) {
          const int64_t t = t0 + r / H, g = r % H;
          float* out = p.out + (t * p.num_heads + g * gq) * D;
          const float* part0 = partial_buf + first[r] * gq * D;
          std::copy(part0, part0 + gq * D, out);
          for (int64_t i = first[r] + 1; i < first[r + 1]; ++i) {
            const float* part = partial_buf + i * gq * D;
            for (int64_t e = 0; e < gq * D; ++e) out[e] += part[e];
          }
        },
        parallel);
  }
}

}  // namespace xq
