#include "engine/scheduler/scheduler.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/step/batch_builder.h"

namespace xq {

Scheduler::Scheduler(SchedulerConfig config, KvCacheManager& kv) : config_(config), kv_(kv) {
  if (config_.max_num_seqs < 1 || config_.max_num_batched_tokens < 1) {
    throw std::invalid_argument("scheduler: max_num_seqs and max_num_batched_tokens must be >= 1");
  }
}

Scheduler::~Scheduler() = default;

void Scheduler::Add(std::unique_ptr<Sequence> seq) {
  if (seq->tokens.empty()) throw std::invalid_argument("scheduler: a sequence needs tokens");
  Sequence* raw = seq.get();
  raw->status = SequenceStatus::kWaiting;
  raw->num_computed = 0;
  raw->kv = SequenceKv{};
  if (!sequences_.emplace(raw->id, std::move(seq)).second) {
    throw std::invalid_argument("scheduler: duplicate sequence id " + std::to_string(raw->id));
  }
  Enqueue(raw);
}

void Scheduler::Enqueue(Sequence* seq) {
  auto before = [](const Sequence* a, const Sequence* b) {
    return a->priority != b->priority ? a->priority < b->priority : a->arrival < b->arrival;
  };
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), seq, before), seq);
}

void Scheduler::Preempt(Sequence* seq) {
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  kv_.Release(seq->kv);  // blocks go back; full ones stay revivable through the prefix cache
  seq->num_computed = 0;
  seq->num_cached = 0;
  seq->status = SequenceStatus::kWaiting;
  Enqueue(seq);
  ++preemptions_;
}

SequenceKv Scheduler::NewKv(Sequence& seq) {
  // Prompt logprobs need the logits of every prompt position: nothing may be skipped.
  SequenceKv kv = seq.prompt_logits ? SequenceKv{} : kv_.Acquire(seq.tokens);
  seq.num_cached = kv.length;
  return kv;
}

void Scheduler::Reserve(Sequence& seq, SequenceKv& kv, int64_t n) {
  kv_.Reserve(kv, n);
  kv_.Track(kv, seq.tokens, seq.prompt_tokens);
}

StepPlan Scheduler::Schedule(int64_t prefill_with_decodes) {
  StepPlan plan;
  int64_t budget = config_.max_num_batched_tokens;
  const BlockPool& pool = kv_.pool();
  auto decoding = [](const Sequence* s) { return s->num_computed >= s->prompt_tokens; };
  const int64_t decodes = std::count_if(running_.begin(), running_.end(), [&](const Sequence* s) {
    return decoding(s) && s->pending() > 0;
  });
  // Prompts get at least as many tokens as there are decodes: when the decodes alone nearly
  // fill the target, a step at most about doubles, and prompts still move at a useful pace.
  int64_t prefill_budget = decodes > 0 ? std::max(prefill_with_decodes, decodes) : INT64_MAX;

  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence* seq = running_[i];
    const bool decode = decoding(seq);
    const int64_t n = std::min({seq->pending(), budget, decode ? budget : prefill_budget});
    if (n <= 0) continue;
    bool self_preempted = false;
    while (!pool.CanAllocate(static_cast<int32_t>(kv_.BlocksNeeded(seq->kv, n)))) {
      Sequence* victim = running_.back();
      plan.preempted.push_back(victim->id);
      Preempt(victim);
      if (victim == seq) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    Reserve(*seq, seq->kv, n);
    plan.chunks.push_back({seq->id, seq->num_computed, n,
                           seq->num_computed + n == static_cast<int64_t>(seq->tokens.size()),
                           seq->prompt_logits});
    plan.num_tokens += n;
    if (decode) {
      plan.decode_tokens += n;
    } else {
      prefill_budget -= n;
    }
    budget -= n;
  }

  // Admit only when nothing had to be preempted: memory is short, and a sequence admitted now
  // would be the next victim.
  int32_t slots = 0;
  for (const Sequence* s : running_) slots += s->copies;
  while (plan.preempted.empty() && std::min(budget, prefill_budget) > 0 && !waiting_.empty()) {
    Sequence* seq = waiting_.front();
    if (slots + seq->copies > config_.max_num_seqs) break;
    SequenceKv kv = NewKv(*seq);
    const int64_t computed = kv.length;
    const int64_t remaining = static_cast<int64_t>(seq->tokens.size()) - computed;
    const int64_t n = std::min({remaining, budget, prefill_budget});
    // Admitted only when its whole prompt fits now: admitting on the first chunk alone lets
    // long prompts push out sequences that are decoding, then each other (thrashing).
    if (!pool.CanAllocate(static_cast<int32_t>(kv_.BlocksToGrow(kv, remaining, n)))) {
      kv_.Release(kv);
      seq->num_cached = 0;
      break;  // first come first served: the head waits for memory rather than being overtaken
    }
    Reserve(*seq, kv, n);
    waiting_.pop_front();
    seq->kv = std::move(kv);
    seq->num_computed = computed;
    seq->status = SequenceStatus::kRunning;
    running_.push_back(seq);
    slots += seq->copies;
    plan.admitted.push_back(seq->id);
    plan.chunks.push_back({seq->id, computed, n,
                           computed + n == static_cast<int64_t>(seq->tokens.size()),
                           seq->prompt_logits});
    plan.num_tokens += n;
    prefill_budget -= n;
    budget -= n;
  }
  max_running_ = std::max(max_running_, static_cast<int32_t>(running_.size()));
  plan.inputs.Clear();
  for (const ScheduledChunk& c : plan.chunks) {
    const Sequence& seq = *Find(c.seq_id);
    AppendSequence(plan.inputs, kv_, seq.kv,
                   std::span<const int32_t>(seq.tokens).subspan(c.start, c.num_tokens),
                   c.all_logits ? LogitRows::kAll
                   : c.sample   ? LogitRows::kLast
                                : LogitRows::kNone);
  }
  return plan;
}

void Scheduler::Complete(const StepPlan& plan) {
  for (const ScheduledChunk& c : plan.chunks) {
    Sequence* seq = Find(c.seq_id);
    if (!seq || seq->status != SequenceStatus::kRunning) continue;  // removed meanwhile
    kv_.Commit(seq->kv, c.num_tokens);
    seq->num_computed += c.num_tokens;
  }
  const auto full = std::count_if(running_.begin(), running_.end(), [](const Sequence* s) {
    return s->num_computed >= s->prompt_tokens;
  });
  max_running_full_ = std::max(max_running_full_, static_cast<int32_t>(full));
}

Sequence& Scheduler::Fork(int64_t parent_id, int64_t child_id, std::vector<BlockCopy>& copies) {
  Sequence* parent = Find(parent_id);
  if (!parent || parent->status != SequenceStatus::kRunning) {
    throw std::logic_error("scheduler: fork of a sequence that is not running");
  }
  auto child = std::make_unique<Sequence>();
  child->id = child_id;
  child->priority = parent->priority;
  child->arrival = parent->arrival;
  child->copies = 1;
  child->tokens = parent->tokens;
  child->prompt_tokens = parent->prompt_tokens;
  try {
    child->kv = kv_.Fork(parent->kv, copies);
    child->num_computed = parent->num_computed;
    child->num_cached = parent->num_cached;
    child->status = SequenceStatus::kRunning;
  } catch (const KvCacheFull&) {
    // No room for the copy's window now: it queues and recomputes the prompt later.
  }
  Sequence* raw = child.get();
  if (!sequences_.emplace(child_id, std::move(child)).second) {
    throw std::logic_error("scheduler: duplicate sequence id " + std::to_string(child_id));
  }
  if (raw->status == SequenceStatus::kRunning) {
    running_.insert(std::find(running_.begin(), running_.end(), parent) + 1, raw);
  } else {
    Enqueue(raw);
  }
  parent->copies = std::max(1, parent->copies - 1);
  max_running_ = std::max(max_running_, static_cast<int32_t>(running_.size()));
  return *raw;
}

void Scheduler::Remove(int64_t seq_id) {
  auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) return;
  Sequence* seq = it->second.get();
  if (auto r = std::find(running_.begin(), running_.end(), seq); r != running_.end()) {
    running_.erase(r);
  }
  if (auto w = std::find(waiting_.begin(), waiting_.end(), seq); w != waiting_.end()) {
    waiting_.erase(w);
  }
  if (seq->status == SequenceStatus::kRunning) kv_.Release(seq->kv);
  sequences_.erase(it);
}

Sequence* Scheduler::Find(int64_t seq_id) {
  auto it = sequences_.find(seq_id);
  return it == sequences_.end() ? nullptr : it->second.get();
}

SchedulerStats Scheduler::Stats() const {
  SchedulerStats s;
  s.running = static_cast<int32_t>(running_.size());
  s.waiting = static_cast<int32_t>(waiting_.size());
  s.preemptions = preemptions_;
  s.max_running = max_running_;
  s.max_running_full = max_running_full_;
  return s;
}

}  // namespace xq
