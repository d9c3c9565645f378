#include "engine/runner/cuda/device_kv_storage.h"

#include <string>

namespace xq {

DeviceKvStorage::DeviceKvStorage(int64_t block_bytes, int32_t num_blocks, int32_t spare_blocks,
                                 cudaStream_t stream)
    : block_bytes_(block_bytes), num_blocks_(num_blocks), stream_(stream) {
  if (block_bytes <= 0 || num_blocks <= 0) throw Error("KV storage: empty arena");
  const auto bytes =
      static_cast<size_t>(block_bytes) * static_cast<size_t>(num_blocks + spare_blocks);
  try {
    arena_.Reserve(bytes);
  } catch (const Error& e) {
    throw Error("--kv-cache-memory: cannot allocate " + std::to_string(bytes) +
                " bytes of device memory for the KV cache (" + e.what() + ")");
  }
  // Zeroed as the host arena is, so both backends start from the same bytes.
  CheckCuda(cudaMemsetAsync(arena_.data(), 0, bytes, stream_), "clearing the KV arena");
}

void DeviceKvStorage::CopyBlock(int32_t src, int32_t dst) {
  if (src < 0 || src >= num_blocks_ || dst < 0 || dst >= num_blocks_) {
    throw Error("KV storage: block copy " + std::to_string(src) + " -> " + std::to_string(dst) +
                " out of range");
  }
  CheckCuda(cudaMemcpyAsync(arena_.data() + dst * block_bytes_, arena_.data() + src * block_bytes_,
                            static_cast<size_t>(block_bytes_), cudaMemcpyDeviceToDevice, stream_),
            "copying a KV block");
}

}  // namespace xq
