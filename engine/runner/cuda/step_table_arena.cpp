#include "engine/runner/cuda/step_table_arena.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace xq {
namespace {

constexpr size_t kSmallestSlot = 256;  // bytes; also every slot's alignment

}  // namespace

int StepTableArena::Add() {
  capacity_.push_back(kSmallestSlot);
  offset_.push_back(0);
  staged_.emplace_back();
  Layout();
  return static_cast<int>(capacity_.size()) - 1;
}

void StepTableArena::Stage(int id, const void* host, size_t bytes) { staged_[id] = {host, bytes}; }

// Offsets from the capacities (powers of two of at least 256 bytes: every offset aligned), and
// buffers that hold them all.
void StepTableArena::Layout() {
  size_t total = 0;
  for (size_t i = 0; i < capacity_.size(); ++i) {
    offset_[i] = total;
    total += capacity_[i];
  }
  if (total > host_bytes_) {
    cudaFreeHost(host_);
    host_ = nullptr;
    host_bytes_ = 0;
    void* p = nullptr;
    CheckCuda(cudaMallocHost(&p, total), "allocating pinned host memory");
    host_ = static_cast<uint8_t*>(p);
    host_bytes_ = total;
  }
  device_.Reserve(total);
}

void StepTableArena::Upload() {
  bool grew = false;
  for (size_t i = 0; i < capacity_.size(); ++i) {
    if (staged_[i].bytes > capacity_[i]) {
      capacity_[i] = std::bit_ceil(staged_[i].bytes);
      grew = true;
    }
  }
  if (grew) Layout();
  size_t end = 0;
  for (size_t i = 0; i < staged_.size(); ++i) {
    if (staged_[i].bytes == 0) continue;
    std::memcpy(host_ + offset_[i], staged_[i].host, staged_[i].bytes);
    end = std::max(end, offset_[i] + staged_[i].bytes);
  }
  std::fill(staged_.begin(), staged_.end(), Staged{});
  if (end == 0) return;
  CheckCuda(cudaMemcpyAsync(device_.data(), host_, end, cudaMemcpyHostToDevice, stream_),
            "copying the step's tables to the device");
}

}  // namespace xq
