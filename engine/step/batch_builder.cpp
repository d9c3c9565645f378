#include "engine/step/batch_builder.h"

#include <stdexcept>

namespace xq {

void AppendSequence(BatchInputs& in, const KvCacheManager& kv, const SequenceKv& seq,
                    std::span<const int32_t> chunk, LogitRows logits) {
  const int64_t G = kv.block_tokens(), P = kv.pages_per_block();
  const int64_t start = seq.length, n = static_cast<int64_t>(chunk.size());
  if (kv.BlocksNeeded(seq, n) != 0) {
    throw std::logic_error("AppendSequence: the sequence holds no blocks for the chunk");
  }
  for (int64_t i = 0; i < n; ++i) {
    in.tokens.push_back(chunk[i]);
    in.positions.push_back(static_cast<int32_t>(start + i));
  }
  in.qo_indptr.push_back(in.qo_indptr.back() + n);
  in.kv_len.push_back(start + n);
  in.block_ids.insert(in.block_ids.end(), seq.blocks.begin(), seq.blocks.end());
  in.block_indptr.push_back(static_cast<int64_t>(in.block_ids.size()));
  in.window_pages.insert(in.window_pages.end(), seq.window_pages.begin(), seq.window_pages.end());
  in.window_indptr.push_back(static_cast<int64_t>(in.window_pages.size()));
  in.window_start.push_back(seq.window_start);
  // Window blocks whose positions leave the window in this step become compressed blocks.
  // (Sinks leaving are quantized too: the prefix cache chains through their compressed blocks.)
  const int64_t first = seq.window_start / G, held = SinkBlocksHeld(kv.layout(), first);
  const int64_t last = QuantizedFrontier(start + n, kv.recent_window(), G) / G;
  for (int64_t b = first; b < last; ++b) {
    const auto pages = seq.window_pages.begin() + (held + b - first) * P;
    in.quantize_pages.insert(in.quantize_pages.end(), pages, pages + P);
    in.quantize_blocks.push_back(seq.blocks[b]);
  }
  const int64_t first_row = in.num_tokens() - n;
  if (logits == LogitRows::kAll) {
    for (int64_t r = first_row; r < in.num_tokens(); ++r) in.logits_rows.push_back(r);
  } else if (logits == LogitRows::kLast && n > 0) {
    in.logits_rows.push_back(in.num_tokens() - 1);
  }
}

}  // namespace xq
