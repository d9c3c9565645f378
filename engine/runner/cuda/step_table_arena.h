// StepTableArena: a step's small tables (tokens, positions, block tables, sampling rows...)
// staged in pinned host memory and sent to the device in one transfer, instead of a copy per
// table from pageable memory (each of those a synchronous staging copy on the host: some 20 per
// decode step). Each table keeps a slot whose capacity grows to powers of two (at least 256
// bytes), so its device address stays put while it fits: CUDA graphs bake addresses in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/runner/cuda/device_buffer.h"

namespace xq {

class StepTableArena {
 public:
  explicit StepTableArena(cudaStream_t stream) : stream_(stream) {}
  ~StepTableArena() { cudaFreeHost(host_); }
  StepTableArena(const StepTableArena&) = delete;
  StepTableArena& operator=(const StepTableArena&) = delete;

  // A new table's id.
  int Add();
  // This step's bytes of table `id`, copied at Upload (the host memory must live until then).
  void Stage(int id, const void* host, size_t bytes);
  // Every staged table to the device in one transfer on the stream. The staging memory is
  // reused by the next step: the caller synchronizes the stream in between.
  void Upload();
  // Table `id` on the device (valid after Upload, until a slot grows).
  uint8_t* device(int id) { return device_.data() + offset_[id]; }

 private:
  struct Staged {
    const void* host = nullptr;
    size_t bytes = 0;
  };
  void Layout();

  cudaStream_t stream_;
  std::vector<size_t> capacity_, offset_;
  std::vector<Staged> staged_;
  uint8_t* host_ = nullptr;  // pinned
  size_t host_bytes_ = 0;
  DeviceBuffer<uint8_t> device_;
};

// A typed table in an arena.
template <typename T>
class StepTable {
 public:
  explicit StepTable(StepTableArena& arena) : arena_(&arena), id_(arena.Add()) {}
  void Stage(const std::vector<T>& host) {
    arena_->Stage(id_, host.data(), host.size() * sizeof(T));
  }
  T* data() const { return reinterpret_cast<T*>(arena_->device(id_)); }

 private:
  StepTableArena* arena_;
  int id_;
};

}  // namespace xq
