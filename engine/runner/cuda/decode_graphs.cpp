#include "engine/runner/cuda/decode_graphs.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace xq {

void DecodeGraphs::Run(const DecodeGraphKey& key, std::vector<const void*> addresses,
                       cudaStream_t stream, const std::function<void()>& enqueue) {
  auto it =
      std::find_if(graphs_.begin(), graphs_.end(), [&](const auto& g) { return g->key == key; });
  if (it != graphs_.end() && (*it)->addresses != addresses) {
    graphs_.erase(it);  // a buffer moved since: its old address is baked in
    it = graphs_.end();
  }
  if (it == graphs_.end()) {
    const bool seen = std::find(seen_.begin(), seen_.end(), key) != seen_.end();
    if (!seen) seen_.push_back(key);
    if (!seen || !Capture(key, std::move(addresses), stream, enqueue)) {
      enqueue();
      ++stats_.eager_steps;
      return;
    }
    it = std::prev(graphs_.end());
  }
  (*it)->last_use = ++clock_;
  (*it)->graph.Launch(stream);
  ++stats_.replays;
  stats_.largest_replayed_bucket = std::max(stats_.largest_replayed_bucket, key.bucket);
}

bool DecodeGraphs::Capture(const DecodeGraphKey& key, std::vector<const void*> addresses,
                           cudaStream_t stream, const std::function<void()>& enqueue) {
  if (graphs_.size() >= max_graphs_) {
    graphs_.erase(
        std::min_element(graphs_.begin(), graphs_.end(),
                         [](const auto& a, const auto& b) { return a->last_use < b->last_use; }));
  }
  try {
    graphs_.push_back(std::unique_ptr<Captured>(
        new Captured{key, std::move(addresses), CudaGraph(stream, enqueue), 0}));
  } catch (const std::runtime_error& e) {  // xq::Error, or cuBLAS refusing the capture
    cudaGetLastError();                    // the capture's error, not the next step's
    spdlog::warn(
        "CUDA graphs off: capturing a decode step failed ({}); steps now run launch by "
        "launch",
        e.what());
    enabled_ = false;
    graphs_.clear();
    return false;
  }
  ++stats_.captures;
  return true;
}

void DecodeGraphs::Clear() {
  graphs_.clear();
  seen_.clear();
}

}  // namespace xq
