#include "engine/kv/prefix_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace xq {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Blocks differ whenever the profile or its layout does, so the seed covers both.
uint64_t ProfileSeed(const PagedKvCache& kv) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : kv.name()) h = (h ^ c) * 0x100000001b3ULL;
  h = Mix(h ^ static_cast<uint64_t>(kv.layout().block_bytes));
  return Mix(h ^ static_cast<uint64_t>(kv.recent_window()));
}

}  // namespace

int64_t PrefixCache::WindowBlockBytes(const KvBlockLayout& layout) {
  return layout.num_layers * 2 * layout.block_tokens * layout.num_kv_heads * layout.head_dim *
         static_cast<int64_t>(sizeof(_Float16));
}

PrefixCache::PrefixCache(PagedKvCache& kv, int32_t window_blocks)
    : kv_(kv),
      block_tokens_(kv.layout().block_tokens),
      recent_blocks_(kv.recent_window() / kv.layout().block_tokens),
      profile_seed_(ProfileSeed(kv)),
      windows_(WindowBlockBytes(kv.layout()), window_blocks) {
  kv_.SetCommitObserver(this);
  kv_.pool().SetEvictionListener([this](int32_t block, uint64_t hash) {
    if (auto it = blocks_.find(hash); it != blocks_.end() && it->second == block) blocks_.erase(it);
  });
  windows_.SetEvictionListener([this](int32_t block, uint64_t hash) {
    auto it = window_blocks_.find(hash);
    if (it != window_blocks_.end() && it->second == block) window_blocks_.erase(it);
  });
}

PrefixCache::~PrefixCache() {
  kv_.SetCommitObserver(nullptr);
  kv_.pool().SetEvictionListener(nullptr);
}

uint64_t PrefixCache::NextHash(uint64_t parent, std::span<const int32_t> block_tokens) const {
  uint64_t h = Mix(parent ^ profile_seed_);
  for (int32_t t : block_tokens)
    h = Mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ULL));
  return h;
}

void PrefixCache::Track(PagedSequenceCache& seq, std::span<const int32_t> tokens,
                        int64_t prompt_tokens) {
  std::vector<uint64_t>& hashes = seq.prefix.block_hashes;
  const size_t full = tokens.size() / block_tokens_;
  while (hashes.size() < full) {
    const uint64_t parent = hashes.empty() ? 0 : hashes.back();
    hashes.push_back(
        NextHash(parent, tokens.subspan(hashes.size() * block_tokens_, block_tokens_)));
  }
  seq.prefix.window_copy_blocks = prompt_tokens / block_tokens_;
}

std::unique_ptr<PagedSequenceCache> PrefixCache::Acquire(std::span<const int32_t> tokens) {
  queries_ += static_cast<int64_t>(tokens.size());
  if (tokens.empty()) return nullptr;
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_tokens_;
  std::vector<uint64_t> hashes;
  int64_t compressed = 0;  // leading blocks present compressed
  for (int64_t b = 0; b < max_blocks; ++b) {
    hashes.push_back(
        NextHash(b ? hashes.back() : 0, tokens.subspan(b * block_tokens_, block_tokens_)));
    if (compressed == b && blocks_.count(hashes.back())) ++compressed;
  }
  // The longest h whose state a fresh run would have: blocks [0, h - R/G) compressed and the
  // window [h - R/G, h) in fp16.
  int64_t h = max_blocks;
  for (; h > 0; --h) {
    const int64_t first_window = std::max<int64_t>(0, h - recent_blocks_);
    if (first_window > compressed) continue;
    bool windows_present = true;
    for (int64_t b = first_window; b < h && windows_present; ++b) {
      windows_present = window_blocks_.count(hashes[b]) > 0;
    }
    if (windows_present) break;
  }
  if (h == 0) return nullptr;

  const int64_t first_window = std::max<int64_t>(0, h - recent_blocks_);
  BlockPool& pool = kv_.pool();
  // Reviving cached blocks and charging the window both take free blocks: all or nothing.
  int64_t takes = kv_.WindowCharge((h - first_window) * block_tokens_);
  for (int64_t b = 0; b < first_window; ++b) takes += pool.RefCount(blocks_.at(hashes[b])) == 0;
  if (!pool.CanAllocate(static_cast<int32_t>(takes))) return nullptr;
  std::vector<int32_t> blocks;
  for (int64_t b = 0; b < first_window; ++b) {
    const int32_t id = blocks_.at(hashes[b]);
    pool.RefCount(id) > 0 ? pool.AddRef(id) : pool.Revive(id);
    blocks.push_back(id);
  }
  auto seq = std::make_unique<PagedSequenceCache>(kv_);
  seq->AdoptPrefix(std::move(blocks), h * block_tokens_);
  const KvBlockLayout& layout = kv_.layout();
  const int64_t row = layout.num_kv_heads * layout.head_dim;
  for (int64_t b = first_window; b < h; ++b) {
    const int32_t id = window_blocks_.at(hashes[b]);
    windows_.Revive(id);  // and Release below: the block becomes the most recently used
    const _Float16* src = reinterpret_cast<const _Float16*>(windows_.Data(id));
    for (int64_t l = 0; l < layout.num_layers; ++l) {
      for (int kv_index = 0; kv_index < 2; ++kv_index) {
        const _Float16* rows = src + (l * 2 + kv_index) * block_tokens_ * row;
        for (int64_t t = 0; t < block_tokens_; ++t) {
          std::memcpy(seq->MutableWindowRow(l, kv_index == 1, b * block_tokens_ + t),
                      rows + t * row, row * sizeof(_Float16));
        }
      }
    }
    windows_.Release(id);
  }
  hashes.resize(h);
  seq->prefix.block_hashes = std::move(hashes);
  hits_ += h * block_tokens_;
  return seq;
}

void PrefixCache::CopyWindowBlock(const PagedSequenceCache& seq, int64_t b, uint64_t hash) {
  if (auto it = window_blocks_.find(hash); it != window_blocks_.end()) {
    windows_.Revive(it->second);  // already kept: refresh its place in the LRU order
    windows_.Release(it->second);
    return;
  }
  const std::optional<int32_t> id = windows_.Allocate();
  if (!id) return;  // no capacity (a pool of 0 blocks)
  const KvBlockLayout& layout = kv_.layout();
  const int64_t row = layout.num_kv_heads * layout.head_dim;
  _Float16* dst = reinterpret_cast<_Float16*>(windows_.Data(*id));
  for (int64_t l = 0; l < layout.num_layers; ++l) {
    for (int kv_index = 0; kv_index < 2; ++kv_index) {
      _Float16* rows = dst + (l * 2 + kv_index) * block_tokens_ * row;
      for (int64_t t = 0; t < block_tokens_; ++t) {
        std::memcpy(rows + t * row, seq.WindowRow(l, kv_index == 1, b * block_tokens_ + t),
                    row * sizeof(_Float16));
      }
    }
  }
  windows_.SetHash(*id, hash);
  window_blocks_[hash] = *id;
  windows_.Release(*id);
}

void PrefixCache::OnLeaveWindow(const PagedSequenceCache& seq, int64_t first, int64_t last) {
  const std::vector<uint64_t>& hashes = seq.prefix.block_hashes;
  BlockPool& pool = kv_.pool();
  for (int64_t b = first / block_tokens_; b < last / block_tokens_; ++b) {
    if (b >= static_cast<int64_t>(hashes.size())) break;
    const uint64_t hash = hashes[b];
    const int32_t id = seq.block_table()[b];
    if (!blocks_.count(hash) && !pool.Hash(id)) {
      pool.SetHash(id, hash);
      blocks_[hash] = id;
    }
    if (recent_blocks_ > 0 && b < seq.prefix.window_copy_blocks) CopyWindowBlock(seq, b, hash);
  }
}

void PrefixCache::Release(const PagedSequenceCache& seq) {
  if (recent_blocks_ == 0) return;
  const std::vector<uint64_t>& hashes = seq.prefix.block_hashes;
  const int64_t full = std::min<int64_t>(seq.length() / block_tokens_, hashes.size());
  for (int64_t b = seq.window_start() / block_tokens_; b < full; ++b) {
    CopyWindowBlock(seq, b, hashes[b]);
  }
}

PrefixCacheStats PrefixCache::Stats() const {
  PrefixCacheStats s;
  s.queries = queries_;
  s.hits = hits_;
  const BlockPoolStats w = windows_.Stats();
  s.window_blocks_total = w.total_blocks;
  s.window_blocks_cached = w.cached_free_blocks;
  return s;
}

std::string PrefixCache::CheckInvariants() const {
  for (const auto& [hash, id] : blocks_) {
    if (kv_.pool().Hash(id) != hash)
      return "compressed block " + std::to_string(id) + " lost its hash";
  }
  for (const auto& [hash, id] : window_blocks_) {
    if (windows_.Hash(id) != hash) return "window block " + std::to_string(id) + " lost its hash";
    if (windows_.RefCount(id) != 0) return "window block " + std::to_string(id) + " is held";
  }
  if (std::string pool = windows_.CheckInvariants(); !pool.empty()) return "window pool: " + pool;
  return {};
}

}  // namespace xq
