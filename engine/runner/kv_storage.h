// KvStorage: the bytes of the paged KV cache, owned by the backend (a host arena here, a device
// arena for CUDA). The host's KV manager decides what each block id holds; storage only keeps
// the bytes, block b at arena() + b * block_bytes, in the format of kernels/include.
#pragma once

#include <cstdint>

namespace xq {

class KvStorage {
 public:
  virtual ~KvStorage() = default;
  virtual uint8_t* arena() = 0;
  virtual int64_t block_bytes() const = 0;
  virtual int32_t num_blocks() const = 0;
  // Copies block src's bytes over block dst (a forked sequence's partial window block).
  virtual void CopyBlock(int32_t src, int32_t dst) = 0;
};

}  // namespace xq
