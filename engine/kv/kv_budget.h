// KvBudget: the one place the KV cache is planned: the block layout of a profile and the pool
// size from the --kv-cache-memory byte budget (compressed blocks and the window pages of the
// fp16 recent windows, one pool), and parsing byte sizes such as "2GiB".
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/include/xquant_format.h"

namespace xq {

struct KvBudgetRequest {
  int64_t total_bytes = 0;             // --kv-cache-memory
  int64_t block_bytes = 0;             // KvBlockLayout::block_bytes
  int64_t block_tokens = 32;           // G
  int64_t recent_window = 128;         // R
  int64_t window_pages_per_block = 0;  // KvBlockLayout::window_pages_per_block
  int64_t max_chunk_tokens = 0;        // most tokens one sequence appends in a step
};

// The whole budget is one block pool. A sequence's fp16 window takes window pages from it while
// the sequence holds them, so a few long sequences and many short ones both use all of it.
struct KvBudget {
  int32_t num_blocks = 0;
  int64_t block_pool_bytes = 0;  // num_blocks * block_bytes
  // Pages a window takes between steps (R + G - 1 tokens past the quantized frontier) and at
  // its peak, while a chunk of max_chunk_tokens is appended before it is quantized.
  int64_t window_blocks = 0;
  int64_t window_blocks_peak = 0;
};

// Pages of the window blocks that hold `rows` fp16 window tokens from a block boundary on.
int64_t WindowPages(int64_t rows, int64_t block_tokens, int64_t pages_per_block);

// Throws xq::Error naming --kv-cache-memory and the numbers when not even one sequence (its peak
// window plus one block) fits, or when an input is not positive.
KvBudget PlanKvBudget(const KvBudgetRequest& request);

struct KvProfile;

// A profile resolved for a model shape and a budget: everything the KV manager and the runner
// are built from.
struct KvPlan {
  KvBlockLayout layout;
  int64_t recent_window = 0;
  KvBudget budget;
};
// Throws xq::Error naming the profile or --kv-cache-memory when they do not fit the model.
KvPlan PlanKvCache(const KvProfile& profile, int64_t num_layers, int64_t num_kv_heads,
                   int64_t head_dim, int64_t budget_bytes, int64_t max_chunk_tokens);

// "1000000", "512MiB", "2GiB", "1.5GB", "2 G". KB/MB/GB/TB are powers of 1000; KiB/MiB/GiB/TiB
// and the bare letters K/M/G/T powers of 1024; units are case-insensitive, fractions round down.
// Throws xq::Error naming `flag` on bad input (empty, negative, unknown unit, overflow).
int64_t ParseByteSize(std::string_view text, std::string_view flag = "--kv-cache-memory");

}  // namespace xq
