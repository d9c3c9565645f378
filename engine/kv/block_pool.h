// BlockPool: the bookkeeping of the paged KV cache (the bytes live in the runner's KvStorage).
// Equal blocks with reference counts, and an intrusive LRU free list whose blocks keep their
// content hash until reused, so a prefix-cache hit can revive them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xq {

struct BlockPoolStats {
  int32_t total_blocks = 0;
  int32_t used_blocks = 0;         // refcount > 0
  int32_t free_blocks = 0;         // on the free list, hashed or not
  int32_t cached_free_blocks = 0;  // free but still holding a hash (revivable)
  int64_t bytes_total = 0;
  int64_t bytes_used = 0;
};

// Not thread-safe: the scheduler owns it and mutates it between steps. Misuse (releasing a free
// block, reviving an in-use one, an id out of range) throws std::logic_error: it means a bug in
// the caller's bookkeeping, and going on would corrupt the free list.
class BlockPool {
 public:
  // Told when Allocate reuses a free block that still held a hash, so the prefix index forgets it.
  using EvictionListener = std::function<void(int32_t block, uint64_t hash)>;

  // block_bytes (KvBlockLayout::block_bytes) only sizes the byte counts of Stats().
  BlockPool(int64_t block_bytes, int32_t num_blocks);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  void SetEvictionListener(EvictionListener listener) { on_evict_ = std::move(listener); }

  // Takes the head of the free list (refcount 1, no hash); nullopt when none is free. Freed
  // blocks without a hash go to the head, since they hold nothing worth keeping; hashed ones go
  // to the tail, so the least recently freed cached block is evicted first.
  std::optional<int32_t> Allocate();
  // Lets a caller check a whole step's needs before mutating anything.
  bool CanAllocate(int32_t n) const { return n <= free_count_; }

  void AddRef(int32_t block);   // block must be in use
  void Release(int32_t block);  // at zero the block joins the free list
  // Prefix hit on a free block that still holds its hash: off the free list, refcount 1.
  void Revive(int32_t block);

  // A full block's content hash, written once while in use; it survives Release until the
  // block is reused. Setting the same value again is allowed.
  void SetHash(int32_t block, uint64_t hash);
  std::optional<uint64_t> Hash(int32_t block) const;
  // Drops the block's hash (no listener call); a free block moves to the head of the list.
  void ForgetHash(int32_t block);
  int32_t RefCount(int32_t block) const { return node(block).ref; }

  int64_t block_bytes() const { return block_bytes_; }
  int32_t num_blocks() const { return static_cast<int32_t>(nodes_.size()); }

  BlockPoolStats Stats() const;
  // Empty when consistent, else what is wrong. Walks every block: for tests and debug checks.
  std::string CheckInvariants() const;

 private:
  static constexpr int32_t kNone = -1;
  struct Node {
    int32_t prev = kNone;  // free-list links, meaningful only while ref == 0
    int32_t next = kNone;
    int32_t ref = 0;
    bool hashed = false;
    uint64_t hash = 0;
  };

  void CheckId(int32_t block) const;
  const Node& node(int32_t block) const { return CheckId(block), nodes_[block]; }
  Node& node(int32_t block) { return CheckId(block), nodes_[block]; }
  void PushBack(int32_t block);
  void PushFront(int32_t block);
  void Unlink(int32_t block);

  int64_t block_bytes_;
  std::vector<Node> nodes_;
  int32_t head_ = kNone;  // next to be reused
  int32_t tail_ = kNone;  // evicted last
  int32_t free_count_ = 0;
  int32_t cached_free_count_ = 0;
  EvictionListener on_evict_;
};

}  // namespace xq
