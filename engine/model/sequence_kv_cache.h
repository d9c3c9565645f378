// SequenceKvCache: the key/value memory of one sequence as the forward pass sees it. The
// forward pass hands it each layer's new keys/values and queries; the cache stores them and
// computes attention, so a compressed cache can attend straight from its own storage.
#pragma once

#include <cstdint>

#include "engine/common/error.h"

namespace xq {

// The KV memory cannot take the step's tokens: a normal condition (the scheduler preempts or
// rejects), never a crash. Nothing was committed.
class KvCacheFull : public Error {
 public:
  using Error::Error;
};

class SequenceKvCache {
 public:
  virtual ~SequenceKvCache() = default;

  // Tokens whose keys and values are stored (committed).
  virtual int64_t length() const = 0;

  // Stores n new tokens of `layer` after the committed ones and computes causal attention for
  // their queries against everything stored plus themselves. Calling it again for the same layer
  // before Commit replaces the uncommitted tokens (a failed step is simply retried). Throws
  // KvCacheFull when the memory cannot hold them. Calls for different sequences may run
  // concurrently.
  //   q:   [n, num_heads * head_dim]      (RoPE applied)
  //   k,v: [n, num_kv_heads * head_dim]   (k with RoPE applied)
  //   out: [n, num_heads * head_dim]
  virtual void AppendAndAttend(int64_t layer, int64_t n, const float* q, const float* k,
                               const float* v, float* out) = 0;

  // Called once all layers have seen the n tokens: they become part of length().
  virtual void Commit(int64_t n) = 0;
};

}  // namespace xq
