#include "engine/kv/prefix_cache.h"

#include <algorithm>
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

uint64_t ChainHash(uint64_t seed, uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = Mix(parent ^ seed);
  for (int32_t t : tokens) {
    h = Mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ULL));
  }
  return h;
}

}  // namespace

PrefixCache::PrefixCache(BlockPool& pool, const KvBlockLayout& layout, int64_t recent_window,
                         uint64_t profile_seed, HashFn hash)
    : pool_(pool),
      block_tokens_(layout.block_tokens),
      recent_blocks_(recent_window / layout.block_tokens),
      sink_blocks_(layout.sink_blocks),
      profile_seed_(profile_seed),
      hash_(hash ? hash : ChainHash) {
  pool_.SetEvictionListener([this](int32_t block, uint64_t hash) { OnEvict(block, hash); });
}

PrefixCache::~PrefixCache() { pool_.SetEvictionListener(nullptr); }

uint64_t PrefixCache::ProfileSeed(const std::string& profile_name, const KvBlockLayout& layout,
                                  int64_t recent_window) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : profile_name) h = (h ^ c) * 0x100000001b3ULL;
  h = Mix(h ^ static_cast<uint64_t>(layout.block_bytes));
  h = Mix(h ^ static_cast<uint64_t>(layout.sink_blocks));
  return Mix(h ^ static_cast<uint64_t>(recent_window));
}

uint64_t PrefixCache::NextHash(uint64_t parent, std::span<const int32_t> block_tokens) const {
  return hash_(profile_seed_, parent, block_tokens);
}

const PrefixCache::Entry* PrefixCache::Find(const std::unordered_map<uint64_t, Entry>& index,
                                            uint64_t hash, uint64_t parent,
                                            std::span<const int32_t> tokens) const {
  auto it = index.find(hash);
  if (it == index.end() || it->second.parent != parent) return nullptr;
  const std::vector<int32_t>& kept = it->second.tokens;
  return std::equal(kept.begin(), kept.end(), tokens.begin(), tokens.end()) ? &it->second : nullptr;
}

void PrefixCache::Track(SequenceKv& seq, std::span<const int32_t> tokens,
                        int64_t prompt_tokens) const {
  std::vector<uint64_t>& hashes = seq.block_hashes;
  const size_t full = tokens.size() / block_tokens_;
  while (hashes.size() < full) {
    const uint64_t parent = hashes.empty() ? 0 : hashes.back();
    const auto block = tokens.subspan(hashes.size() * block_tokens_, block_tokens_);
    hashes.push_back(NextHash(parent, block));
    seq.block_tokens.insert(seq.block_tokens.end(), block.begin(), block.end());
  }
  seq.window_keep_blocks = prompt_tokens / block_tokens_;
}

PrefixHit PrefixCache::Acquire(std::span<const int32_t> tokens) {
  queries_ += static_cast<int64_t>(tokens.size());
  PrefixHit hit;
  if (tokens.empty()) return hit;
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_tokens_;
  std::vector<uint64_t> hashes;
  std::vector<const Entry*> compressed, windows;
  for (int64_t b = 0; b < max_blocks; ++b) {
    const uint64_t parent = b ? hashes.back() : 0;
    const auto block = tokens.subspan(b * block_tokens_, block_tokens_);
    hashes.push_back(NextHash(parent, block));
    compressed.push_back(Find(compressed_, hashes.back(), parent, block));
    windows.push_back(KeepsWindows() ? Find(windows_, hashes.back(), parent, block) : nullptr);
  }
  int64_t leading = 0;  // leading blocks present compressed
  while (leading < max_blocks && compressed[leading]) ++leading;
  // The longest h whose state a fresh run would have: blocks [0, h - R/G) compressed and the
  // window [h - R/G, h) in fp16, with the attention sinks among the first ones in fp16 too.
  auto first_window = [&](int64_t h) { return std::max<int64_t>(0, h - recent_blocks_); };
  auto sinks = [&](int64_t h) { return std::min(sink_blocks_, first_window(h)); };
  int64_t h = max_blocks;
  for (; h > 0; --h) {
    if (first_window(h) > leading) continue;
    bool windows_present = true;
    for (int64_t b = 0; b < sinks(h) && windows_present; ++b) windows_present = windows[b];
    for (int64_t b = first_window(h); b < h && windows_present; ++b) windows_present = windows[b];
    if (windows_present) break;
  }
  if (h == 0) return hit;

  std::vector<int32_t> ids;
  for (int64_t b = 0; b < first_window(h); ++b) ids.push_back(compressed[b]->ids[0]);
  const size_t num_compressed = ids.size();
  for (int64_t b = 0; b < sinks(h); ++b) {
    ids.insert(ids.end(), windows[b]->ids.begin(), windows[b]->ids.end());
  }
  for (int64_t b = first_window(h); b < h; ++b) {
    ids.insert(ids.end(), windows[b]->ids.begin(), windows[b]->ids.end());
  }
  // Reviving takes the cached blocks themselves off the free list: it always succeeds, and a
  // window block is its pages, shared rather than copied.
  for (int32_t id : ids) pool_.RefCount(id) > 0 ? pool_.AddRef(id) : pool_.Revive(id);
  hit.length = h * block_tokens_;
  hit.blocks.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(num_compressed));
  hit.window_pages.assign(ids.begin() + static_cast<std::ptrdiff_t>(num_compressed), ids.end());
  hashes.resize(h);
  hit.block_hashes = std::move(hashes);
  hits_ += hit.length;
  return hit;
}

void PrefixCache::IndexCompressed(const SequenceKv& seq, int64_t b) {
  if (b >= static_cast<int64_t>(seq.block_hashes.size())) return;
  const uint64_t hash = seq.block_hashes[b];
  const int32_t id = seq.blocks[b];
  if (compressed_.count(hash) || pool_.Hash(id)) return;
  pool_.SetHash(id, hash);
  const auto first = seq.block_tokens.begin() + b * block_tokens_;
  compressed_[hash] = {b ? seq.block_hashes[b - 1] : 0, {first, first + block_tokens_}, {id}};
}

void PrefixCache::KeepWindowBlock(const SequenceKv& seq, int64_t b,
                                  std::span<const int32_t> pages) {
  if (!KeepsWindows() || b >= static_cast<int64_t>(seq.block_hashes.size())) return;
  const uint64_t hash = seq.block_hashes[b];
  if (windows_.count(hash)) return;  // kept already (possibly these very pages)
  for (int32_t id : pages) {
    if (pool_.Hash(id)) return;  // part of another entry's block: nothing to add
  }
  for (int32_t id : pages) {
    // A fresh salt per page: a stale page never answers for a newer entry of the same hash.
    const uint64_t page_hash = Mix(hash ^ Mix(next_page_salt_++));
    pool_.SetHash(id, page_hash);
    page_owner_[page_hash] = hash;
  }
  const auto first = seq.block_tokens.begin() + b * block_tokens_;
  windows_[hash] = {b ? seq.block_hashes[b - 1] : 0,
                    {first, first + block_tokens_},
                    {pages.begin(), pages.end()}};
}

void PrefixCache::OnEvict(int32_t block, uint64_t hash) {
  if (auto it = compressed_.find(hash); it != compressed_.end() && it->second.ids[0] == block) {
    compressed_.erase(it);
    return;
  }
  auto owner = page_owner_.find(hash);
  if (owner == page_owner_.end()) return;
  const uint64_t entry = owner->second;
  page_owner_.erase(owner);
  DropWindowEntry(entry);
}

void PrefixCache::DropWindowEntry(uint64_t hash) {
  auto it = windows_.find(hash);
  if (it == windows_.end()) return;
  for (int32_t id : it->second.ids) {
    if (const auto page_hash = pool_.Hash(id)) {
      page_owner_.erase(*page_hash);
      pool_.ForgetHash(id);
    }
  }
  windows_.erase(it);
}

PrefixCacheStats PrefixCache::Stats() const {
  PrefixCacheStats s;
  s.queries = queries_;
  s.hits = hits_;
  return s;
}

std::string PrefixCache::CheckInvariants() const {
  for (const auto& [hash, entry] : compressed_) {
    if (pool_.Hash(entry.ids[0]) != hash) {
      return "compressed block " + std::to_string(entry.ids[0]) + " lost its hash";
    }
  }
  size_t pages = 0;
  for (const auto& [hash, entry] : windows_) {
    for (int32_t id : entry.ids) {
      const auto page_hash = pool_.Hash(id);
      if (!page_hash) return "window page " + std::to_string(id) + " lost its hash";
      auto owner = page_owner_.find(*page_hash);
      if (owner == page_owner_.end() || owner->second != hash) {
        return "window page " + std::to_string(id) + " is not indexed to its block";
      }
      ++pages;
    }
  }
  if (pages != page_owner_.size()) return "window page index holds stale pages";
  return {};
}

}  // namespace xq
