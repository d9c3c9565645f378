// SequenceKv: where one sequence's KV lives, as block ids only (the bytes are in the runner's
// KvStorage): compressed blocks for the positions before the window, window pages for the rest.
// Plain data, mutated only by the KvCacheManager.
#pragma once

#include <cstdint>
#include <vector>

namespace xq {

struct SequenceKv {
  std::vector<int32_t> blocks;  // compressed: blocks[b] holds positions [b*G, (b+1)*G)
  // P pages per window block: the attention sinks that left the window (blocks 0 .. held - 1),
  // then the window's blocks from window_start / G on (xquant_format.h: XqWindowView).
  std::vector<int32_t> window_pages;
  int64_t length = 0;        // committed positions
  int64_t window_start = 0;  // QuantizedFrontier(length): the first fp16 position

  // Prefix caching: the chain hash and token ids of each full block (known ahead from the
  // tokens), and how many leading blocks (the prompt's) are worth keeping in fp16 too.
  std::vector<uint64_t> block_hashes;
  std::vector<int32_t> block_tokens;  // [block_hashes.size() * G]
  int64_t window_keep_blocks = 0;

  int64_t window_blocks(int64_t pages_per_block) const {
    return static_cast<int64_t>(window_pages.size()) / pages_per_block;
  }
};

}  // namespace xq
