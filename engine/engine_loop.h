// EngineLoop: the engine's step loop, owned by the engine thread: requests in flight, the
// scheduler, the KV manager, the model runner and the samplers. One Step() = schedule (the step
// as plain BatchInputs), one Execute over the ragged batch, sample, stream the deltas. Not
// thread-safe; Engine wraps it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/engine.h"
#include "engine/grammar/grammar_compiler.h"
#include "engine/kv/kv_cache_manager.h"
#include "engine/model/model_weights.h"
#include "engine/runner/model_runner.h"
#include "engine/sampling/sequence_sampler.h"
#include "engine/scheduler/scheduler.h"
#include "engine/scheduler/step_budget.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {

class EngineLoop {
 public:
  // runner: the backend (null: the CPU runner). Throws xq::Error when the KV profile or budget
  // does not fit the model.
  EngineLoop(const Model& model, const EngineConfig& config, std::unique_ptr<ModelRunner> runner);
  ~EngineLoop();

  // Throws InvalidRequest naming the field. Reads only immutable state: any thread may call it.
  void Validate(const GenerateRequest& request) const;
  // Compiles request.params.grammar (if any) into request.compiled_grammar; throws
  // InvalidRequest naming the field. Any thread may call it.
  void CompileGrammar(GenerateRequest& request) const;
  // Engine thread: the request joins the queue.
  void Add(GenerateRequest request, std::shared_ptr<RequestStream> stream);
  // Engine thread: one step. False when there was nothing to do.
  bool Step();
  // Ends every request with a final kAbort update.
  void AbortAll();

  bool idle() const { return requests_.empty(); }
  int32_t waiting_requests() const;
  EngineStats Stats() const;
  std::string CheckInvariants() const;
  int64_t max_model_len() const { return max_model_len_; }

 private:
  struct Copy {
    int64_t seq_id = 0;
    std::unique_ptr<SequenceSampler> sampler;
    IncrementalDetokenizer detokenizer;
    bool finished = false;
  };
  struct Request {
    GenerateRequest request;
    std::shared_ptr<RequestStream> stream;
    std::vector<Copy> copies;  // copy 0 from the start; the others when the prompt is sampled
    Usage usage;
    RequestUpdate update;  // this step's deltas
    bool touched = false;  // update must be pushed at the end of the step
    // Prompt logprobs by position (params.prompt_logprobs >= 0), until sent with the first token.
    std::vector<TokenOutput> prompt_logprobs;
    bool prompt_logprobs_sent = false;
  };

  // What a step's logits row is for, in the order the plan's inputs list them.
  struct LogitsRow {
    int64_t seq_id, position;
    bool sample;
  };

  std::unique_ptr<SequenceSampler> NewSampler(const GenerateRequest& request, int32_t index) const;
  // Rows the runner can sample where the logits are, added to inputs.sampled_rows (their
  // samplers' uniforms are drawn here).
  void PlanSampledRows(const std::vector<LogitsRow>& rows, BatchInputs& inputs);
  // Throws when the runner did not return what the step's sampled rows need.
  void CheckRunnerSamples(const BatchInputs& inputs) const;
  void Sample(Request& req, size_t copy_index, std::span<const float> logits);
  // A drawn token's bookkeeping and output.
  void Emit(Request& req, size_t copy_index, const SampleResult& r);
  static bool NeedsPromptLogprob(const Request& req, int64_t position);
  void RecordPromptLogprob(Request& req, int64_t position, std::span<const float> logits);
  // The same from logprobs the runner computed where the logits are.
  void RecordPromptLogprob(Request& req, int64_t position, const RowLogprobs& logprobs);
  void PublishPromptLogprobs(Request& req, int64_t seq_id);
  void Finish(Request& req, size_t copy_index, FinishKind kind, std::string stop_reason = {});
  SequenceDelta& DeltaFor(Request& req, int32_t index);
  void CheckCancellations();
  void FailHeadIfStuck();
  void FailRequests(const std::vector<int64_t>& seq_ids, const std::string& error);
  void Publish();

  const Model& model_;
  EngineConfig config_;
  Tokenizer tokenizer_;
  std::vector<int32_t> eos_ids_;
  int64_t max_model_len_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  StepBudget step_budget_;
  // Built on the first request with a grammar (building the vocabulary index costs time).
  mutable std::once_flag grammar_compiler_once_;
  mutable std::unique_ptr<GrammarCompiler> grammar_compiler_;
  double real_bits_ = 0, equivalent_bits_ = 0;

  std::map<uint64_t, std::unique_ptr<Request>> requests_;  // by arrival
  std::map<int64_t, std::pair<Request*, size_t>> by_seq_;  // sequence -> (request, copy)
  int64_t next_seq_id_ = 1;
  uint64_t next_arrival_ = 0;

  std::vector<float> logits_;
  std::vector<BlockCopy> copies_;  // forks' block copies, done before the next step
  int64_t prompt_tokens_ = 0, generation_tokens_ = 0, steps_ = 0, finished_ = 0;
  int64_t failed_steps_ = 0;
  int32_t consecutive_failed_steps_ = 0;
  std::string last_step_error_;
};

}  // namespace xq
