// DeviceKvStorage: the paged KV arena in device memory (same byte format as the host arena);
// the host's KV manager decides what each block holds, as for the CPU. Spare blocks past
// num_blocks belong to no sequence: the runner's scratch (a CUDA graph's padding rows).
#pragma once

#include <cstdint>

#include "engine/runner/cuda/device_buffer.h"
#include "engine/runner/kv_storage.h"

namespace xq {

class DeviceKvStorage : public KvStorage {
 public:
  DeviceKvStorage(int64_t block_bytes, int32_t num_blocks, int32_t spare_blocks,
                  cudaStream_t stream);

  uint8_t* arena() override { return arena_.data(); }  // device memory
  int64_t block_bytes() const override { return block_bytes_; }
  int32_t num_blocks() const override { return num_blocks_; }
  int32_t spare_block(int32_t i) const { return num_blocks_ + i; }
  // Ordered on the runner's stream, so the next step sees the copy.
  void CopyBlock(int32_t src, int32_t dst) override;

 private:
  int64_t block_bytes_;
  int32_t num_blocks_;
  cudaStream_t stream_;
  DeviceBuffer<uint8_t> arena_;
};

}  // namespace xq
