// KvBudget: splits the --kv-cache-memory byte budget between the compressed block pool and the
// per-sequence fp16 recent windows, and parses byte sizes such as "2GiB".
#pragma once

#include <cstdint>
#include <string_view>

namespace xq {

struct KvBudgetRequest {
  int64_t total_bytes = 0;             // --kv-cache-memory
  int64_t block_bytes = 0;             // KvBlockLayout::block_bytes
  int64_t block_tokens = 32;           // G
  int64_t recent_window = 128;         // R
  int64_t window_bytes_per_token = 0;  // Fp16KvBytesPerToken(...)
  int64_t max_chunk_tokens = 0;        // most tokens all sequences together append in a step
  int64_t max_num_seqs = 0;
};

struct KvBudget {
  // Between steps a sequence's window holds at most R + G - 1 tokens past its quantized
  // frontier; during a step the new tokens of all sequences (at most max_chunk_tokens) join
  // their windows before they are quantized.
  int64_t window_tokens_per_seq = 0;
  int64_t window_bytes_per_seq = 0;
  int64_t step_bytes = 0;  // max_chunk_tokens fp16 rows
  // max_num_seqs, or fewer when the budget cannot give each sequence a window and one block.
  int64_t num_seqs = 0;
  int64_t window_bytes = 0;  // num_seqs * window_bytes_per_seq + step_bytes
  int32_t num_blocks = 0;
  int64_t block_pool_bytes = 0;  // num_blocks * block_bytes
};

// Bytes of one token's unquantized K and V across all layers.
int64_t Fp16KvBytesPerToken(int64_t num_layers, int64_t num_kv_heads, int64_t head_dim);

// Throws xq::Error naming --kv-cache-memory and the numbers when not even one sequence (its
// window plus one block) fits, or when an input is not positive.
KvBudget SplitKvBudget(const KvBudgetRequest& request);

// "1000000", "512MiB", "2GiB", "1.5GB", "2 G". KB/MB/GB/TB are powers of 1000; KiB/MiB/GiB/TiB
// and the bare letters K/M/G/T powers of 1024; units are case-insensitive, fractions round down.
// Throws xq::Error naming `flag` on bad input (empty, negative, unknown unit, overflow).
int64_t ParseByteSize(std::string_view text, std::string_view flag = "--kv-cache-memory");

}  // namespace xq
