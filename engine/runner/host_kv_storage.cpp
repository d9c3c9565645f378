#include "engine/runner/host_kv_storage.h"

#include <cstring>
#include <new>
#include <string>

#include "engine/common/error.h"

namespace xq {

HostKvStorage::HostKvStorage(int64_t block_bytes, int32_t num_blocks)
    : block_bytes_(block_bytes), num_blocks_(num_blocks) {
  if (block_bytes <= 0 || num_blocks <= 0) throw Error("KV storage: sizes must be positive");
  const auto bytes = static_cast<size_t>(block_bytes) * static_cast<size_t>(num_blocks);
  uint8_t* p =
      static_cast<uint8_t*>(::operator new[](bytes, std::align_val_t{kAlignment}, std::nothrow));
  if (!p) {
    throw Error("--kv-cache-memory: cannot allocate " + std::to_string(bytes) +
                " bytes of host memory for the KV cache");
  }
  arena_.reset(p);
  // Commit every page now: with overcommit the allocation above succeeds beyond what the
  // machine has, and the shortfall would surface as an OOM kill while serving. Touched at
  // startup, memory use is also flat from the first request on (no page faults mid-step).
  std::memset(p, 0, bytes);
}

void HostKvStorage::CopyBlock(int32_t src, int32_t dst) {
  if (src < 0 || dst < 0 || src >= num_blocks_ || dst >= num_blocks_) {
    throw Error("KV storage: block id out of range in a copy");
  }
  std::memcpy(arena_.get() + dst * block_bytes_, arena_.get() + src * block_bytes_,
              static_cast<size_t>(block_bytes_));
}

}  // namespace xq
