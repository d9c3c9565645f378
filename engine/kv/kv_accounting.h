// KvAccounting: what a KV block layout costs, counted both the paper's way (code bits only) and
// the way memory sees it (codes, scales, zero points, alignment and the fp16 recent window).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/include/xquant_format.h"

namespace xq {

struct KvAccounting {
  // Code bits averaged over all 2L K/V slots: shared slots 0, fp16 slots 16, metadata excluded.
  double equivalent_bits = 0.0;
  // block_bytes * 8 / (G * L * 2 * H * D): everything a compressed block stores per element.
  double real_bits_per_element = 0.0;
  double bytes_per_token = 0.0;       // block_bytes / G
  int64_t fp16_bytes_per_token = 0;   // 2 * L * H * D * 2
  double window_bytes_per_token = 0;  // window pages per block * block_bytes / G
  int64_t block_bytes = 0;
  int64_t block_tokens = 0;
  int64_t recent_window = 0;
  int64_t sink_blocks = 0;  // kept in window pages (and their compressed blocks) once they left
};

KvAccounting ComputeKvAccounting(const KvBlockLayout& layout, int64_t recent_window);

// Average bytes per token of one sequence of `context_length` (> 0) tokens: tokens before
// F = QuantizedFrontier(C, R, G) sit in compressed blocks, the rest in fp16; sinks that left the
// window cost their window pages on top.
double BytesPerTokenAt(const KvAccounting& accounting, int64_t context_length);

// One paragraph for startup logs: per-layer bits and sharing, both bit counts, block and token
// sizes, and the cost at `context_length` with the recent window.
std::string DescribeKvAccounting(const std::string& profile_name, const KvBlockLayout& layout,
                                 int64_t recent_window, int64_t context_length);

}  // namespace xq
