// The CUDA window-row writer through the SIMT emulation against XqWriteWindowRows: a ragged
// batch (a decode row past a sink block, a prefill chunk across a block boundary, a fresh
// sequence) written into shuffled window pages gives the same arena, byte for byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/write_window_rows.cuh"
#include "kernels/include/xquant_batch.h"
#include "tests/kernels/xquant_test_util.h"

namespace xq {
namespace {

TEST(WriteWindowRowsEmulated, MatchesTheCpuWriterByteForByte) {
  constexpr int64_t H = 2, D = 32, G = 16;
  KvSlotSpec fp16, two;
  fp16.bits = kFp16Bits;
  two.bits = 2;
  KvBlockLayout L = xqtest::MakeLayout(H, D, G, {KvLayerSpec{two, two}, KvLayerSpec{fp16, fp16}});
  L.sink_blocks = 1;
  const int64_t P = L.window_pages_per_block;
  // (kv_len after the step, the step's rows, window_start)
  struct Seq {
    int64_t length, rows, window_start;
  };
  const std::vector<Seq> seqs = {{60, 1, 32}, {40, 12, 16}, {3, 3, 0}};
  std::mt19937 rng(4);
  std::vector<int32_t> pool(200);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  size_t next = 0;
  std::vector<int64_t> qo = {0}, kv_len, window_indptr = {0}, window_start;
  std::vector<int32_t> pages;
  for (const Seq& s : seqs) {
    qo.push_back(qo.back() + s.rows);
    kv_len.push_back(s.length);
    window_start.push_back(s.window_start);
    const int64_t blocks =
        SinkBlocksHeld(L, s.window_start / G) + (s.length - s.window_start + G - 1) / G;
    for (int64_t i = 0; i < blocks * P; ++i) pages.push_back(pool[next++]);
    window_indptr.push_back(static_cast<int64_t>(pages.size()));
  }
  const int64_t rows = qo.back(), width = H * D;
  std::vector<float> k(rows * width), v(rows * width);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  for (float& x : k) x = dist(rng);
  for (float& x : v) x = dist(rng);

  std::vector<uint8_t> want(pool.size() * L.block_bytes, 0xA5), got = want;
  XqBatchKv kv;
  kv.layout = &L;
  kv.num_seqs = static_cast<int64_t>(seqs.size());
  kv.qo_indptr = qo.data();
  kv.kv_len = kv_len.data();
  kv.window_indptr = window_indptr.data();
  kv.window_pages = pages.data();
  kv.window_start = window_start.data();
  for (int64_t layer = 0; layer < 2; ++layer) {
    kv.arena = want.data();
    XqWriteWindowRows(kv, layer, k.data(), v.data());
    kv.arena = got.data();
    simt::Launch(dim3(rows), dim3(32), 0, cuda::WriteWindowRowsKernel, kv, layer, k.data(),
                 v.data());
  }
  EXPECT_NE(want, std::vector<uint8_t>(want.size(), 0xA5)) << "nothing was written";
  size_t diff = 0;
  while (diff < want.size() && want[diff] == got[diff]) ++diff;
  EXPECT_EQ(diff, want.size()) << "first differing byte " << diff;
}

}  // namespace
}  // namespace xq
