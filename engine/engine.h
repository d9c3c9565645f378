// Engine: the continuous-batching inference engine. One thread runs the step loop (schedule,
// execute one ragged batch, sample, stream deltas); Submit / Cancel / Stats are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/common/error.h"
#include "engine/device/device.h"
#include "engine/request.h"
#include "engine/request_stream.h"
#include "engine/runner/model_runner.h"

namespace xq {

struct Model;
class EngineLoop;

struct EngineConfig {
  std::string kv_profile = "fp16";  // a name in configs/kv or a JSON file
  int64_t kv_cache_bytes = int64_t{1} << 30;
  int32_t max_num_seqs = 64;             // sequences in the running batch
  int32_t max_num_batched_tokens = 512;  // tokens per step (decode tokens + prefill chunks)
  // While streams decode, prefill chunks shrink to keep each step (each stream's gap between
  // tokens) near this many ms (StepBudget); 0: chunks always fill max_num_batched_tokens. The
  // default only bounds the worst gaps: a tighter target trades time to first token for it.
  int32_t target_itl_ms = 1000;
  int32_t max_waiting_requests = 1024;  // Submit throws QueueFull beyond this
  int64_t max_model_len = 0;            // 0: the model's context length
  bool prefix_caching = true;
  Device device = Device::kCpu;  // which runner runs the steps (when none is given)
  bool cuda_graphs = true;       // that runner's decode steps as CUDA graphs (cuda only)
};

struct EngineStats {
  int32_t running_requests = 0;
  int32_t waiting_requests = 0;
  int32_t running_sequences = 0;
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_used = 0;    // held by running sequences
  int32_t kv_blocks_cached = 0;  // free, but still holding a reusable prefix
  double kv_real_bits_per_element = 0;
  double kv_equivalent_bits = 0;     // paper-equivalent bits
  int64_t prefix_cache_queries = 0;  // prompt tokens looked up
  int64_t prefix_cache_hits = 0;     // of those, served from the cache
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;  // prompt tokens computed (recomputation included)
  int64_t generation_tokens = 0;
  int64_t steps = 0;
  int32_t max_concurrent_sequences = 0;       // most sequences holding KV at once so far
  int32_t max_concurrent_full_sequences = 0;  // of those, most holding their whole prompt
  int64_t requests_finished = 0;
  // Steps the runner failed (their requests ended with an error), and how many of the latest
  // failed in a row (0 once one succeeds), with the last one's error: a device that fails every
  // step (a lost GPU) shows here, and /health reports it.
  int64_t failed_steps = 0;
  int32_t consecutive_failed_steps = 0;
  std::string last_step_error;
  // How long the step running now has taken (0 between steps): a device that hangs shows here.
  double running_step_seconds = 0;
};

// Submit refuses the request: bad parameters, or a prompt that can never fit (xq::Error, with
// the field named: a 400 / INVALID_ARGUMENT).
class InvalidRequest : public Error {
 public:
  using Error::Error;
};
// Submit refuses because the waiting queue is full (429 / RESOURCE_EXHAUSTED), or the engine is
// shutting down (503 / UNAVAILABLE).
class EngineBusy : public Error {
 public:
  EngineBusy(const std::string& message, bool shutting_down)
      : Error(message), shutting_down_(shutting_down) {}
  bool shutting_down() const { return shutting_down_; }

 private:
  bool shutting_down_;
};

class Engine {
 public:
  // model must outlive the engine. runner is the backend (null: the CPU runner). Throws
  // xq::Error when the KV profile or budget is invalid.
  Engine(const Model& model, EngineConfig config, std::unique_ptr<ModelRunner> runner = nullptr);
  ~Engine();  // aborts what is still running and joins the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request; its updates arrive on the returned stream. Cancel the stream
  // to abort it. Throws InvalidRequest or EngineBusy.
  std::shared_ptr<RequestStream> Submit(GenerateRequest request);

  EngineStats Stats() const;
  const EngineConfig& config() const { return config_; }
  int64_t max_model_len() const;

  // Stops admitting requests (Submit throws EngineBusy); running and queued ones continue.
  void StopAccepting();
  // Waits until no request is running or queued, at most `timeout`; true when idle.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Aborts everything in flight (each stream gets a final kAbort update).
  void AbortAll();
  // For tests and debugging: the allocator's and prefix cache's invariants, checked when idle
  // ("engine busy" otherwise). Empty when consistent.
  std::string CheckInvariants() const;

 private:
  void Run();
  void PublishStats();

  EngineConfig config_;
  std::unique_ptr<EngineLoop> loop_;  // used by the engine thread only (Validate excepted)
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // submissions, abort, stop
  std::condition_variable idle_;  // the loop went idle
  std::vector<std::pair<GenerateRequest, std::shared_ptr<RequestStream>>> inbox_;
  bool accepting_ = true;
  bool stop_ = false;
  bool abort_all_ = false;
  std::optional<std::chrono::steady_clock::time_point> step_started_;  // while a step runs
  bool idle_now_ = true;
  int32_t waiting_ = 0;  // queued in the loop as of the last step, plus those taken in since
  EngineStats stats_;    // snapshot after the last step
  std::thread thread_;
};

}  // namespace xq
