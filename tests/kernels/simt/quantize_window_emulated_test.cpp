// The CUDA quantize-on-append kernel through the SIMT emulation: window blocks read from window
// pages and quantized into compressed blocks byte for byte as XqQuantizeBlockLayerReference does,
// over every bit pair, shared codes, calibration and several head shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/quantize_window.cuh"
#include "kernels/include/xquant_kernels.h"
#include "tests/kernels/xquant_test_util.h"

namespace xq {
namespace {

constexpr int kBits[] = {1, 2, 4, 8, 16};

// format bit 0: keys in half-block token groups, values in half-block channel groups; bit 1:
// 8-bit params.
KvSlotSpec Slot(int bits, bool share, bool eta, int format = 0, int group_tokens = 0,
                int group_channels = 0) {
  KvSlotSpec s;
  s.bits = bits;
  s.shares_codes = share && bits != kFp16Bits;
  s.eta = eta && bits != kFp16Bits ? (bits == 1 ? 1.0f / 6 : 0.045f) : 0.0f;
  s.group_tokens = format & 1 ? group_tokens : 0;
  s.group_channels = format & 1 ? group_channels : 0;
  s.param_bits = format & 2 ? 8 : kFp16Bits;
  return s;
}

TEST(QuantizeWindowEmulated, MatchesTheReferenceByteForByte) {
  std::mt19937 rng(9);
  int cases = 0;
  for (const auto& [H, D, G] : {std::tuple{2, 64, 16}, std::tuple{3, 64, 32},
                                std::tuple{1, 128, 64}, std::tuple{2, 32, 32}}) {
    for (int kb : kBits) {
      for (int vb : kBits) {
        for (int format = 0; format < 4; ++format) {
          const int variant = cases % 4;
          const bool share_k = variant & 1, share_v = variant & 2, eta = variant != 0;
          const int T = G / 2;
          const KvBlockLayout L = xqtest::MakeLayout(
              H, D, G,
              {KvLayerSpec{Slot(kb, false, eta, format, T), Slot(vb, false, eta, format, 0, T)},
               KvLayerSpec{Slot(kb, share_k, eta, format, T),
                           Slot(vb, share_v, eta, format, 0, T)}});
          const int64_t row = H * D, P = L.window_pages_per_block;
          // Window rows of both layers for one block: random, with exact ties and a constant
          // channel (s == 0 groups).
          std::vector<std::vector<_Float16>> k(2), v(2);
          for (int l = 0; l < 2; ++l) {
            k[l] = xqtest::RandomHalves(rng, G * row, 2.0f);
            v[l] = xqtest::RandomHalves(rng, G * row);
            for (int64_t j = 0; j < G; ++j) k[l][j * row + 3] = static_cast<_Float16>(0.5f);
          }
          // Arena: block 0 is the destination, pages 1..P in shuffled order hold the window.
          std::vector<uint8_t> arena((1 + P) * L.block_bytes, 0xA5);
          std::vector<int32_t> pages(P);
          std::iota(pages.begin(), pages.end(), 1);
          std::shuffle(pages.begin(), pages.end(), rng);
          xqtest::WriteWindowPages(L, 0, G, {k[0].data(), k[1].data()}, {v[0].data(), v[1].data()},
                                   pages, arena.data());
          std::vector<uint8_t> want(L.block_bytes, 0xA5);
          const int32_t dst[] = {0};
          for (int64_t layer = 0; layer < 2; ++layer) {
            XqQuantizeBlockLayerReference(L, layer, xqtest::AsFp16(k[layer].data()),
                                          xqtest::AsFp16(v[layer].data()), want.data());
            simt::Launch(dim3(1), dim3(64), 0, cuda::QuantizeWindowBlocksKernel, &L, arena.data(),
                         layer, pages.data(), dst);
          }
          const std::vector<uint8_t> got(arena.begin(), arena.begin() + L.block_bytes);
          size_t diff = 0;
          while (diff < want.size() && want[diff] == got[diff]) ++diff;
          ASSERT_EQ(diff, want.size())
              << "first differing byte " << diff << " (H " << H << " D " << D << " G " << G << " K"
              << kb << " V" << vb << " variant " << variant << " format " << format << ")";
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 4 * 25 * 4);
}

// A CUDA graph's fixed-shape launch pads its jobs with block -1: those write nothing (a guard
// block sits where block -1 would be), and the real job among them quantizes as it does alone.
TEST(QuantizeWindowEmulated, PaddingJobsWriteNothing) {
  std::mt19937 rng(4);
  const int64_t H = 2, D = 32, G = 16;
  const KvBlockLayout L =
      xqtest::MakeLayout(H, D, G, {KvLayerSpec{Slot(2, false, true), Slot(2, false, true)}});
  const int64_t row = H * D, P = L.window_pages_per_block;
  const auto k = xqtest::RandomHalves(rng, G * row, 2.0f), v = xqtest::RandomHalves(rng, G * row);
  std::vector<int32_t> pages(P);
  std::iota(pages.begin(), pages.end(), 1);
  // The guard block, then the arena: block 0 the destination, pages 1..P the window.
  auto fresh = [&] {
    std::vector<uint8_t> memory((2 + P) * L.block_bytes, 0xA5);
    xqtest::WriteWindowPages(L, 0, G, {k.data()}, {v.data()}, pages, memory.data() + L.block_bytes);
    return memory;
  };
  auto quantize = [&](const std::vector<int32_t>& blocks) {
    std::vector<uint8_t> memory = fresh();
    std::vector<int32_t> job_pages;
    for (size_t j = 0; j < blocks.size(); ++j) {
      job_pages.insert(job_pages.end(), pages.begin(), pages.end());
    }
    simt::Launch(dim3(static_cast<unsigned>(blocks.size())), dim3(64), 0,
                 cuda::QuantizeWindowBlocksKernel, &L, memory.data() + L.block_bytes, int64_t{0},
                 job_pages.data(), blocks.data());
    return memory;
  };
  const std::vector<uint8_t> alone = quantize({0});
  EXPECT_EQ(quantize({-1, 0, -1}), alone);
  EXPECT_EQ(quantize({-1, -1}), fresh());
  EXPECT_NE(alone, fresh());
}

}  // namespace
}  // namespace xq
