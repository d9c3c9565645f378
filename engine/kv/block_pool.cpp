#include "engine/kv/block_pool.h"

#include <limits>
#include <stdexcept>

#include "engine/common/error.h"

namespace xq {

BlockPool::BlockPool(int64_t block_bytes, int32_t num_blocks) : block_bytes_(block_bytes) {
  if (block_bytes <= 0 || num_blocks < 0) {
    throw Error("BlockPool: block_bytes " + std::to_string(block_bytes) +
                " must be positive and num_blocks " + std::to_string(num_blocks) + " not negative");
  }
  if (num_blocks > std::numeric_limits<int64_t>::max() / block_bytes) {
    throw Error("BlockPool: " + std::to_string(num_blocks) + " blocks of " +
                std::to_string(block_bytes) + " bytes overflow");
  }
  nodes_.resize(static_cast<size_t>(num_blocks));
  for (int32_t b = 0; b < num_blocks; ++b) PushBack(b);
  free_count_ = num_blocks;
}

void BlockPool::CheckId(int32_t block) const {
  if (block < 0 || block >= num_blocks()) {
    throw std::logic_error("BlockPool: block id " + std::to_string(block) + " out of range [0, " +
                           std::to_string(num_blocks()) + ")");
  }
}

void BlockPool::PushBack(int32_t block) {
  Node& n = nodes_[block];
  n.prev = tail_;
  n.next = kNone;
  (tail_ == kNone ? head_ : nodes_[tail_].next) = block;
  tail_ = block;
}

void BlockPool::PushFront(int32_t block) {
  Node& n = nodes_[block];
  n.prev = kNone;
  n.next = head_;
  (head_ == kNone ? tail_ : nodes_[head_].prev) = block;
  head_ = block;
}

void BlockPool::Unlink(int32_t block) {
  Node& n = nodes_[block];
  (n.prev == kNone ? head_ : nodes_[n.prev].next) = n.next;
  (n.next == kNone ? tail_ : nodes_[n.next].prev) = n.prev;
  n.prev = n.next = kNone;
}

std::optional<int32_t> BlockPool::Allocate() {
  if (head_ == kNone) return std::nullopt;
  const int32_t block = head_;
  Unlink(block);
  --free_count_;
  Node& n = nodes_[block];
  n.ref = 1;
  if (n.hashed) {
    n.hashed = false;
    --cached_free_count_;
    if (on_evict_) on_evict_(block, n.hash);
  }
  return block;
}

void BlockPool::AddRef(int32_t block) {
  Node& n = node(block);
  if (n.ref <= 0) {
    throw std::logic_error("BlockPool::AddRef: block " + std::to_string(block) + " is free");
  }
  ++n.ref;
}

void BlockPool::Release(int32_t block) {
  Node& n = node(block);
  if (n.ref <= 0) {
    throw std::logic_error("BlockPool::Release: block " + std::to_string(block) +
                           " is already free");
  }
  if (--n.ref > 0) return;
  ++free_count_;
  if (n.hashed) {
    ++cached_free_count_;
    PushBack(block);
  } else {
    PushFront(block);
  }
}

void BlockPool::Revive(int32_t block) {
  Node& n = node(block);
  if (n.ref != 0 || !n.hashed) {
    throw std::logic_error("BlockPool::Revive: block " + std::to_string(block) +
                           (n.ref != 0 ? " is in use" : " holds no hash"));
  }
  Unlink(block);
  --free_count_;
  --cached_free_count_;
  n.ref = 1;
}

void BlockPool::SetHash(int32_t block, uint64_t hash) {
  Node& n = node(block);
  if (n.ref <= 0) {
    throw std::logic_error("BlockPool::SetHash: block " + std::to_string(block) + " is free");
  }
  if (n.hashed && n.hash != hash) {
    throw std::logic_error("BlockPool::SetHash: block " + std::to_string(block) +
                           " already has a different hash");
  }
  n.hashed = true;
  n.hash = hash;
}

void BlockPool::ForgetHash(int32_t block) {
  Node& n = node(block);
  if (!n.hashed) return;
  n.hashed = false;
  if (n.ref == 0) {  // nothing worth keeping any more: reused first
    --cached_free_count_;
    Unlink(block);
    PushFront(block);
  }
}

std::optional<uint64_t> BlockPool::Hash(int32_t block) const {
  const Node& n = node(block);
  return n.hashed ? std::optional<uint64_t>(n.hash) : std::nullopt;
}

BlockPoolStats BlockPool::Stats() const {
  BlockPoolStats s;
  s.total_blocks = num_blocks();
  s.free_blocks = free_count_;
  s.used_blocks = s.total_blocks - free_count_;
  s.cached_free_blocks = cached_free_count_;
  s.bytes_total = int64_t{s.total_blocks} * block_bytes_;
  s.bytes_used = int64_t{s.used_blocks} * block_bytes_;
  return s;
}

std::string BlockPool::CheckInvariants() const {
  const int32_t total = num_blocks();
  std::vector<uint8_t> on_list(nodes_.size(), 0);
  int32_t listed = 0, listed_hashed = 0, prev = kNone;
  for (int32_t b = head_; b != kNone; prev = b, b = nodes_[b].next) {
    const std::string at =
        "free list entry " + std::to_string(listed) + " (block " + std::to_string(b) + ")";
    if (b < 0 || b >= total) return at + ": id out of range";
    if (on_list[b]) return at + ": listed twice (cycle)";
    on_list[b] = 1;
    if (nodes_[b].prev != prev) {
      return at + ": prev is " + std::to_string(nodes_[b].prev) + ", expected " +
             std::to_string(prev);
    }
    if (nodes_[b].ref != 0) return at + ": refcount " + std::to_string(nodes_[b].ref);
    ++listed;
    listed_hashed += nodes_[b].hashed;
  }
  if (tail_ != prev) {
    return "tail is " + std::to_string(tail_) + " but the list ends at " + std::to_string(prev);
  }
  for (int32_t b = 0; b < total; ++b) {
    if (!on_list[b] && nodes_[b].ref <= 0) {
      return "block " + std::to_string(b) + " has refcount " + std::to_string(nodes_[b].ref) +
             " but is not on the free list";
    }
  }
  if (listed != free_count_) {
    return "free count " + std::to_string(free_count_) + " but " + std::to_string(listed) +
           " blocks are listed";
  }
  if (listed_hashed != cached_free_count_) {
    return "cached-free count " + std::to_string(cached_free_count_) + " but " +
           std::to_string(listed_hashed) + " listed blocks hold a hash";
  }
  return {};
}

}  // namespace xq
