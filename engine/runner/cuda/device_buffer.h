// DeviceBuffer<T>: one device allocation of T, freed with its owner; grows on demand (contents
// are not kept across growth: buffers are scratch or written right after).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "engine/runner/cuda/cuda_check.h"

namespace xq {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) { Reserve(count); }
  ~DeviceBuffer() { cudaFree(data_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), capacity_(std::exchange(o.capacity_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }

  // At least `count` elements afterwards.
  void Reserve(size_t count) {
    if (count <= capacity_) return;
    cudaFree(data_);
    data_ = nullptr;
    capacity_ = 0;
    void* p = nullptr;
    CheckCuda(cudaMalloc(&p, count * sizeof(T)), "allocating device memory");
    data_ = static_cast<T*>(p);
    capacity_ = count;
  }

  // The host values in, ordered on `stream` (the host copy may be reused on return: pageable
  // memory is staged before cudaMemcpyAsync returns). Exactly as large as needed (weights).
  void Upload(const T* host, size_t count, cudaStream_t stream) {
    Reserve(count);
    if (count == 0) return;
    CheckCuda(cudaMemcpyAsync(data_, host, count * sizeof(T), cudaMemcpyHostToDevice, stream),
              "copying to the device");
  }
  void Upload(const std::vector<T>& host, cudaStream_t stream) {
    Upload(host.data(), host.size(), stream);
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  bool empty() const { return data_ == nullptr; }
  size_t bytes() const { return capacity_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace xq
