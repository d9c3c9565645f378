// HostKvStorage: the KV arena in host memory, 64-byte aligned, for the CPU runner.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/runner/kv_storage.h"

namespace xq {

class HostKvStorage : public KvStorage {
 public:
  static constexpr size_t kAlignment = 64;
  // Throws xq::Error naming --kv-cache-memory when the memory cannot be had.
  HostKvStorage(int64_t block_bytes, int32_t num_blocks);

  uint8_t* arena() override { return arena_.get(); }
  int64_t block_bytes() const override { return block_bytes_; }
  int32_t num_blocks() const override { return num_blocks_; }
  void CopyBlock(int32_t src, int32_t dst) override;

 private:
  struct AlignedFree {
    void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t{kAlignment}); }
  };
  int64_t block_bytes_;
  int32_t num_blocks_;
  std::unique_ptr<uint8_t[], AlignedFree> arena_;
};

}  // namespace xq
