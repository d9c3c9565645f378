// Scheduler: continuous batching in the style of vLLM's v1 scheduler. Each step running sequences
// go first (decode tokens, or the next chunk of an unfinished prefill), then waiting ones are
// admitted by priority and arrival within the token and sequence budgets. KV blocks are reserved
// for the whole step before it runs; when they run out, the most recently admitted running
// sequence is preempted by recompute.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "engine/kv/kv_cache_manager.h"
#include "engine/scheduler/sequence.h"
#include "engine/scheduler/step_plan.h"

namespace xq {

struct SchedulerConfig {
  int32_t max_num_seqs = 64;
  int32_t max_num_batched_tokens = 512;
};

struct SchedulerStats {
  int32_t running = 0;  // sequences
  int32_t waiting = 0;
  int64_t preemptions = 0;
  int32_t max_running = 0;       // most sequences holding KV at once
  int32_t max_running_full = 0;  // most holding their whole prompt at once (sustained, not queued)
};

class Scheduler {
 public:
  // kv must outlive the scheduler; its prefix cache (if on) is used for admissions.
  Scheduler(SchedulerConfig config, KvCacheManager& kv);
  ~Scheduler();

  // Queues a new sequence (status waiting, nothing computed).
  void Add(std::unique_ptr<Sequence> seq);
  // Plans the next step, reserves its KV blocks and builds its BatchInputs. Pure bookkeeping: no
  // tensor is touched. When some running sequences are decoding, prompt tokens (prefill chunks
  // and admissions) are held to prefill_with_decodes (StepBudget), or to as many as there are
  // decodes if that is more; decodes are never limited by it.
  StepPlan Schedule(int64_t prefill_with_decodes = INT64_MAX);
  // After the step ran: the planned tokens are computed (committed to the KV cache).
  void Complete(const StepPlan& plan);
  // A running sequence's copy `child_id` that shares its blocks (n > 1), running right after it;
  // queued to recompute instead when the pool cannot hold the copy's window now. Block copies
  // the copy needs are appended to `copies` (the runner's storage does them before the next
  // step).
  Sequence& Fork(int64_t parent_id, int64_t child_id, std::vector<BlockCopy>& copies);
  // Drops a sequence wherever it is (finished, aborted); its blocks go back to the pool.
  void Remove(int64_t seq_id);

  Sequence* Find(int64_t seq_id);
  bool idle() const { return running_.empty() && waiting_.empty(); }
  SchedulerStats Stats() const;
  const std::vector<Sequence*>& running() const { return running_; }
  const std::deque<Sequence*>& waiting() const { return waiting_; }

 private:
  void Enqueue(Sequence* seq);  // into waiting_, by (priority, arrival)
  void Preempt(Sequence* seq);
  void Reserve(Sequence& seq, SequenceKv& kv, int64_t n);
  SequenceKv NewKv(Sequence& seq);  // a prefix-cache hit, or empty

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::map<int64_t, std::unique_ptr<Sequence>> sequences_;
  std::vector<Sequence*> running_;  // admission order: the back is preempted first
  std::deque<Sequence*> waiting_;   // next to admit at the front
  int64_t preemptions_ = 0;
  int32_t max_running_ = 0;
  int32_t max_running_full_ = 0;
};

}  // namespace xq
