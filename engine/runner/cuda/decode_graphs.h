// DecodeGraphs: the CUDA runner's captured decode steps, and when to capture, replay or drop
// them. A shape (DecodeGraphKey) runs eagerly the first time it is seen (that warms up what
// loads on first use outside any capture, and a shape seen once costs no capture), is captured
// the second time, and replayed after; it is captured again when a buffer its step reads has
// moved (the graph holds the old address); past `max_graphs` the least recently used is
// dropped. A capture that fails turns graphs off for good (logged): steps then run eagerly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/runner/cuda/cuda_graph.h"
#include "kernels/cuda/cuda_runtime.h"

namespace xq {

// Everything a decode step's launches freeze beyond the addresses they read: the padded batch
// size, the attention split, and which optional sampling kernels run.
struct DecodeGraphKey {
  int64_t bucket = 0, split_tokens = 0, splits = 0;
  bool allowed_tokens = false, logit_edits = false, logprobs = false;
  bool operator==(const DecodeGraphKey&) const = default;
};

// How steps ran (for tests and benchmarks).
struct CudaGraphStats {
  int64_t captures = 0, replays = 0, eager_steps = 0;
  int64_t largest_replayed_bucket = 0;  // padded batch size
};

class DecodeGraphs {
 public:
  static constexpr size_t kDefaultMaxGraphs = 64;  // buckets x length classes x variants in use
  explicit DecodeGraphs(size_t max_graphs = kDefaultMaxGraphs) : max_graphs_(max_graphs) {}

  // One decode step of shape `key` on `stream`: from its graph, or `enqueue` run eagerly.
  // `addresses`: every buffer the step reads (StepAddresses), compared with the graph's.
  void Run(const DecodeGraphKey& key, std::vector<const void*> addresses, cudaStream_t stream,
           const std::function<void()>& enqueue);
  // A step that is no graph's (prefill, rows that come back): counted only.
  void RecordEagerStep() { ++stats_.eager_steps; }
  // The graphs read memory that is gone (the KV arena was replaced).
  void Clear();

  bool enabled() const { return enabled_; }
  size_t size() const { return graphs_.size(); }
  const CudaGraphStats& stats() const { return stats_; }

 private:
  struct Captured {
    DecodeGraphKey key;
    std::vector<const void*> addresses;
    CudaGraph graph;
    int64_t last_use = 0;
  };
  // Captures the step as a new graph; false (graphs off) when the capture fails.
  bool Capture(const DecodeGraphKey& key, std::vector<const void*> addresses, cudaStream_t stream,
               const std::function<void()>& enqueue);

  size_t max_graphs_;
  bool enabled_ = true;
  std::vector<std::unique_ptr<Captured>> graphs_;
  std::vector<DecodeGraphKey> seen_;  // shapes that ran eagerly once
  int64_t clock_ = 0;
  CudaGraphStats stats_;
};

}  // namespace xq
