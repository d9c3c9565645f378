#include "engine/kv/kv_cache_manager.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "engine/kv/kv_budget.h"

namespace xq {
KvCacheManager::KvCacheManager(const KvBlockLayout& layout, int64_t recent_window,
                               int32_t num_blocks, bool prefix_caching,
                               const std::string& profile_name)
    : layout_(layout), recent_window_(recent_window), pool_(layout.block_bytes, num_blocks) {
  if (prefix_caching) {
    prefix_ = std::make_unique<PrefixCache>(
        pool_, layout_, recent_window_,
        PrefixCache::ProfileSeed(profile_name, layout_, recent_window_));
  }
}

int64_t KvCacheManager::WindowBlocksFor(int64_t window_start, int64_t end) const {
  const int64_t G = block_tokens();
  return end <= window_start ? 0 : (end - window_start + G - 1) / G;
}

int64_t KvCacheManager::SinksHeld(const SequenceKv& seq) const {
  return SinkBlocksHeld(layout_, seq.window_start / block_tokens());
}

int64_t KvCacheManager::BlocksToGrow(const SequenceKv& seq, int64_t total, int64_t now) const {
  const int64_t G = block_tokens(), P = pages_per_block();
  const int64_t compressed = QuantizedFrontier(seq.length + total, recent_window_, G) / G -
                             static_cast<int64_t>(seq.blocks.size());
  const int64_t window =
      SinksHeld(seq) + WindowBlocksFor(seq.window_start, seq.length + now) - seq.window_blocks(P);
  return std::max<int64_t>(0, compressed) + std::max<int64_t>(0, window) * P;
}

void KvCacheManager::Reserve(SequenceKv& seq, int64_t n) {
  const int64_t G = block_tokens(), P = pages_per_block();
  const int64_t compressed =
      std::max<int64_t>(0, QuantizedFrontier(seq.length + n, recent_window_, G) / G -
                               static_cast<int64_t>(seq.blocks.size()));
  const int64_t window = std::max<int64_t>(
      0, SinksHeld(seq) + WindowBlocksFor(seq.window_start, seq.length + n) - seq.window_blocks(P));
  const int64_t needed = compressed + window * P;
  if (needed == 0) return;
  if (!pool_.CanAllocate(static_cast<int32_t>(needed))) {
    const BlockPoolStats s = pool_.Stats();
    throw KvCacheFull("KV cache full: the step needs " + std::to_string(needed) + " more blocks, " +
                      std::to_string(s.free_blocks) + " of " + std::to_string(s.total_blocks) +
                      " are free");
  }
  for (int64_t i = 0; i < compressed; ++i) seq.blocks.push_back(*pool_.Allocate());
  for (int64_t i = 0; i < window * P; ++i) seq.window_pages.push_back(*pool_.Allocate());
}

void KvCacheManager::Commit(SequenceKv& seq, int64_t n) {
  const int64_t G = block_tokens(), P = pages_per_block();
  seq.length += n;
  const int64_t frontier = QuantizedFrontier(seq.length, recent_window_, G);
  const int64_t first = seq.window_start / G, leaving = frontier / G - first;
  const int64_t held = SinksHeld(seq);
  if (static_cast<int64_t>(seq.blocks.size()) * G < frontier ||
      seq.window_blocks(P) < held + WindowBlocksFor(seq.window_start, seq.length)) {
    throw std::logic_error("KvCacheManager::Commit: more tokens than were reserved");
  }
  // Leaving blocks below sink_blocks stay where they are, as sinks right after those held.
  const int64_t sinking = std::clamp<int64_t>(layout_.sink_blocks - first, 0, leaving);
  for (int64_t i = 0; i < leaving; ++i) {
    const int64_t b = first + i;
    const std::span<const int32_t> pages(seq.window_pages.data() + (held + i) * P, P);
    if (prefix_) {
      prefix_->IndexCompressed(seq, b);
      if (i < sinking || b < seq.window_keep_blocks) prefix_->KeepWindowBlock(seq, b, pages);
    }
    if (i >= sinking) {
      for (int32_t page : pages) pool_.Release(page);
    }
  }
  seq.window_pages.erase(seq.window_pages.begin() + (held + sinking) * P,
                         seq.window_pages.begin() + (held + leaving) * P);
  seq.window_start = frontier;
  // Pages reserved for tokens that were not appended after all.
  const int64_t keep = (SinksHeld(seq) + WindowBlocksFor(seq.window_start, seq.length)) * P;
  while (static_cast<int64_t>(seq.window_pages.size()) > keep) {
    pool_.Release(seq.window_pages.back());
    seq.window_pages.pop_back();
  }
}

void KvCacheManager::Release(SequenceKv& seq) {
  const int64_t G = block_tokens(), P = pages_per_block();
  if (prefix_) {
    // The window list: sinks (blocks 0 .. held - 1), then blocks from window_start / G on.
    const int64_t held = SinksHeld(seq), first = seq.window_start / G;
    const int64_t full = held + seq.length / G - first;
    for (int64_t w = 0; w < full && w < seq.window_blocks(P); ++w) {
      prefix_->KeepWindowBlock(seq, w < held ? w : first + w - held,
                               std::span<const int32_t>(seq.window_pages.data() + w * P, P));
    }
  }
  for (int32_t b : seq.blocks) pool_.Release(b);
  for (int32_t p : seq.window_pages) pool_.Release(p);
  seq = SequenceKv{};
}

SequenceKv KvCacheManager::Fork(const SequenceKv& seq, std::vector<BlockCopy>& copies) {
  const int64_t G = block_tokens(), P = pages_per_block();
  const int64_t full = SinksHeld(seq) + (seq.length - seq.window_start) / G;
  const int64_t partial = seq.window_blocks(P) - full;  // 0 or 1 between steps
  if (!pool_.CanAllocate(static_cast<int32_t>(partial * P))) {
    throw KvCacheFull("KV cache full: a copy's window needs " + std::to_string(partial * P) +
                      " blocks");
  }
  SequenceKv copy = seq;
  for (int32_t b : seq.blocks) pool_.AddRef(b);
  for (int64_t i = 0; i < full * P; ++i) pool_.AddRef(seq.window_pages[i]);
  for (int64_t i = full * P; i < seq.window_blocks(P) * P; ++i) {
    copy.window_pages[i] = *pool_.Allocate();
    copies.push_back({seq.window_pages[i], copy.window_pages[i]});
  }
  return copy;
}

SequenceKv KvCacheManager::Acquire(std::span<const int32_t> tokens) {
  SequenceKv seq;
  if (!prefix_) return seq;
  PrefixHit hit = prefix_->Acquire(tokens);
  if (hit.length == 0) return seq;
  const int64_t G = block_tokens();
  seq.blocks = std::move(hit.blocks);
  seq.window_pages = std::move(hit.window_pages);
  seq.length = hit.length;
  seq.window_start = QuantizedFrontier(hit.length, recent_window_, G);
  seq.block_hashes = std::move(hit.block_hashes);
  seq.block_tokens.assign(tokens.begin(), tokens.begin() + hit.length);
  return seq;
}

void KvCacheManager::Track(SequenceKv& seq, std::span<const int32_t> tokens,
                           int64_t prompt_tokens) {
  if (prefix_) prefix_->Track(seq, tokens, prompt_tokens);
}

int64_t KvCacheManager::BlocksForRequest(int64_t prompt, int64_t total, int64_t copies,
                                         int64_t max_chunk) const {
  const int64_t G = block_tokens(), R = recent_window_, P = pages_per_block();
  const int64_t full = QuantizedFrontier(total, R, G) / G;
  const int64_t shared = std::min(full, prompt / G);
  // Sinks are full blocks, shared by the copies.
  return full + (copies - 1) * (full - shared) + WindowPages(R + G - 1 + max_chunk, G, P) +
         (copies - 1) * WindowPages(R + G, G, P) + layout_.sink_blocks * P;
}

std::string KvCacheManager::CheckInvariants() const {
  if (std::string pool = pool_.CheckInvariants(); !pool.empty()) return "KV pool: " + pool;
  if (prefix_) return prefix_->CheckInvariants();
  return {};
}

}  // namespace xq
