#include "engine/engine_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/kv/kv_accounting.h"
#include "engine/kv/kv_budget.h"
#include "engine/kv/kv_profile.h"

namespace xq {
namespace {

std::vector<int32_t> EndOfGenerationIds(const Tokenizer& tokenizer, const Model& model) {
  std::vector<int32_t> ids = model.extra_eos_ids;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.IsEndOfGeneration(id) && std::find(ids.begin(), ids.end(), id) == ids.end()) {
      ids.push_back(id);
    }
  }
  return ids;
}

}  // namespace

EngineLoop::EngineLoop(const Model& model, const EngineConfig& config,
                       std::unique_ptr<ModelRunner> runner)
    : model_(model),
      config_(config),
      tokenizer_(model.tokenizer),
      eos_ids_(EndOfGenerationIds(tokenizer_, model)),
      max_model_len_(config.max_model_len > 0
                         ? std::min(config.max_model_len, model.config.max_context)
                         : model.config.max_context),
      runner_(runner ? std::move(runner)
                     : MakeModelRunner(model, config.device, {config.cuda_graphs})),
      step_budget_(config.max_num_batched_tokens, config.target_itl_ms / 1000.0) {
  if (config_.max_model_len > model.config.max_context) {
    throw Error("max_model_len: " + std::to_string(config_.max_model_len) +
                " exceeds the model's context length of " +
                std::to_string(model.config.max_context) + " tokens");
  }
  if (config_.max_num_seqs < 1) throw Error("max_num_seqs: must be at least 1");
  if (config_.max_num_batched_tokens < 1) throw Error("max_num_batched_tokens: must be at least 1");
  if (config_.max_waiting_requests < 1) throw Error("max_waiting_requests: must be at least 1");
  if (config_.target_itl_ms < 0) throw Error("target_itl_ms: must be >= 0 (0 turns it off)");
  const KvProfile profile = LoadKvProfile(config_.kv_profile);
  const ModelConfig& c = model.config;
  const KvPlan plan = PlanKvCache(profile, c.num_layers, c.num_kv_heads, c.head_dim,
                                  config_.kv_cache_bytes, config_.max_num_batched_tokens);
  runner_->AllocateKv({plan.layout, plan.recent_window, plan.budget.num_blocks});
  kv_ = std::make_unique<KvCacheManager>(plan.layout, plan.recent_window, plan.budget.num_blocks,
                                         config_.prefix_caching, profile.name);
  scheduler_ = std::make_unique<Scheduler>(
      SchedulerConfig{config_.max_num_seqs, config_.max_num_batched_tokens}, *kv_);
  const KvAccounting accounting = ComputeKvAccounting(kv_->layout(), kv_->recent_window());
  real_bits_ = accounting.real_bits_per_element;
  equivalent_bits_ = accounting.equivalent_bits;
  spdlog::info("{}", DescribeKvAccounting(profile.name, kv_->layout(), profile.recent_window,
                                          max_model_len_));
  spdlog::info(
      "engine: {} KV blocks of {} bytes (a compressed block of {} tokens, or a window page of {} "
      "fp16 rows, {} pages per window block), max_num_seqs {}, max_num_batched_tokens {}, "
      "max_model_len {}",
      kv_->pool().num_blocks(), kv_->layout().block_bytes, kv_->layout().block_tokens,
      kv_->layout().window_rows_per_page, kv_->pages_per_block(), config_.max_num_seqs,
      config_.max_num_batched_tokens, max_model_len_);
}

EngineLoop::~EngineLoop() {
  requests_.clear();
  by_seq_.clear();
  scheduler_.reset();  // sequences release their blocks before the pool goes
}

void EngineLoop::Validate(const GenerateRequest& r) const {
  const int64_t prompt = static_cast<int64_t>(r.prompt.size());
  if (prompt == 0) throw InvalidRequest("prompt: must contain at least one token");
  for (int32_t t : r.prompt) {
    if (t < 0 || t >= model_.config.vocab_size) {
      throw InvalidRequest("prompt: token id " + std::to_string(t) +
                           " is outside the vocabulary (" +
                           std::to_string(model_.config.vocab_size) + " tokens)");
    }
  }
  try {
    r.params.Validate(model_.config.vocab_size);
  } catch (const Error& e) {
    throw InvalidRequest(e.what());
  }
  if (prompt >= max_model_len_) {
    throw InvalidRequest("prompt: " + std::to_string(prompt) +
                         " tokens leave no room in the context length of " +
                         std::to_string(max_model_len_) + " tokens");
  }
  const int64_t total = prompt + r.params.max_tokens;
  if (total > max_model_len_) {
    throw InvalidRequest("max_tokens: the prompt (" + std::to_string(prompt) + " tokens) plus " +
                         "max_tokens (" + std::to_string(r.params.max_tokens) +
                         ") exceed the context length of " + std::to_string(max_model_len_) +
                         " tokens");
  }
  if (r.params.n > config_.max_num_seqs) {
    throw InvalidRequest("n: " + std::to_string(r.params.n) + " copies exceed max_num_seqs (" +
                         std::to_string(config_.max_num_seqs) + ")");
  }
  // The copies share the prompt's compressed blocks and each needs its own for the rest, plus
  // its window (the first at its peak, while a prompt chunk is appended).
  const int64_t needed =
      kv_->BlocksForRequest(prompt, total, r.params.n, config_.max_num_batched_tokens);
  if (needed > kv_->pool().num_blocks()) {
    throw InvalidRequest("max_tokens: the prompt plus max_tokens need " + std::to_string(needed) +
                         " KV blocks but the whole cache has " +
                         std::to_string(kv_->pool().num_blocks()) +
                         " (lower max_tokens or n, or raise --kv-cache-memory)");
  }
}

void EngineLoop::CompileGrammar(GenerateRequest& request) const {
  if (!request.params.grammar) return;
  std::call_once(grammar_compiler_once_, [this] {
    grammar_compiler_ = std::make_unique<GrammarCompiler>(
        tokenizer_, static_cast<int32_t>(model_.config.vocab_size), eos_ids_);
  });
  try {
    request.compiled_grammar = grammar_compiler_->Compile(*request.params.grammar);
  } catch (const Error& e) {
    throw InvalidRequest(e.what());
  }
}

std::unique_ptr<SequenceSampler> EngineLoop::NewSampler(const GenerateRequest& request,
                                                        int32_t index) const {
  std::unique_ptr<TokenConstraint> constraint;
  if (request.compiled_grammar) {
    constraint =
        MakeGrammarConstraint(request.compiled_grammar, StopTokenIds(request.params, eos_ids_));
  }
  return std::make_unique<SequenceSampler>(request.params, request.prompt, eos_ids_, index,
                                           std::move(constraint));
}

void EngineLoop::Add(GenerateRequest request, std::shared_ptr<RequestStream> stream) {
  auto req = std::make_unique<Request>();
  req->stream = std::move(stream);
  req->usage.prompt_tokens = static_cast<int32_t>(request.prompt.size());
  auto seq = std::make_unique<Sequence>();
  seq->id = next_seq_id_++;
  seq->priority = request.priority;
  seq->arrival = static_cast<int64_t>(next_arrival_);
  seq->copies = request.params.n;
  seq->tokens = request.prompt;
  seq->prompt_tokens = static_cast<int64_t>(request.prompt.size());
  seq->prompt_logits = request.params.prompt_logprobs >= 0;
  if (seq->prompt_logits) req->prompt_logprobs.resize(request.prompt.size() - 1);
  req->copies.push_back(Copy{seq->id, NewSampler(request, 0), IncrementalDetokenizer(tokenizer_)});
  req->request = std::move(request);
  by_seq_[seq->id] = {req.get(), 0};
  scheduler_->Add(std::move(seq));
  requests_[next_arrival_++] = std::move(req);
}

SequenceDelta& EngineLoop::DeltaFor(Request& req, int32_t index) {
  req.touched = true;
  for (SequenceDelta& d : req.update.deltas) {
    if (d.index == index) return d;
  }
  req.update.deltas.push_back({});
  req.update.deltas.back().index = index;
  return req.update.deltas.back();
}

void EngineLoop::Finish(Request& req, size_t copy_index, FinishKind kind, std::string stop_reason) {
  Copy& copy = req.copies[copy_index];
  if (copy.finished) return;
  copy.finished = true;
  SequenceDelta& delta = DeltaFor(req, static_cast<int32_t>(copy_index));
  if (kind == FinishKind::kLength) {
    // The text held back for a possible stop string or an unfinished character is final now.
    StopMatcher::Output out = copy.sampler->PushText(copy.detokenizer.Flush());
    delta.text += out.text;
    if (out.stopped) {
      kind = FinishKind::kStop;
      stop_reason = req.request.params.stop[out.stop_index];
    } else {
      delta.text += copy.sampler->FlushText();
    }
  }
  delta.finish = kind;
  delta.stop_reason = std::move(stop_reason);
  by_seq_.erase(copy.seq_id);
  scheduler_->Remove(copy.seq_id);
}

// Only where the runner returns nothing but the token (and its logprobs): a sampled row of a
// request whose copies all exist (the first token of n > 1 is drawn by every copy from one row),
// and a prompt row whose logprob was asked for (its token given, its raw logprobs wanted).
void EngineLoop::PlanSampledRows(const std::vector<LogitsRow>& rows, BatchInputs& inputs) {
  if (!runner_->SamplesRows()) return;
  for (size_t row = 0; row < rows.size(); ++row) {
    const auto it = by_seq_.find(rows[row].seq_id);
    if (it == by_seq_.end()) continue;
    const auto [req, copy_index] = it->second;
    RowSampling draw;
    if (NeedsPromptLogprob(*req, rows[row].position)) {
      if (rows[row].sample) continue;  // never both (a prompt's last row has no next token)
      draw.given_token = req->request.prompt[rows[row].position + 1];
      draw.top_logprobs = req->request.params.prompt_logprobs;
    } else if (!rows[row].sample ||
               req->copies.size() < static_cast<size_t>(req->request.params.n)) {
      continue;
    } else {
      req->copies[copy_index].sampler->RowForRunner(model_.config.vocab_size, inputs.logit_edits,
                                                    inputs.allowed_tokens, draw);
    }
    inputs.sampled_rows.push_back(static_cast<int64_t>(row));
    inputs.row_sampling.push_back(draw);
    inputs.sampled_edit_indptr.push_back(static_cast<int64_t>(inputs.logit_edits.size()));
  }
}

// A runner that samples rows returns a token for each, and logprobs for each when any asked.
void EngineLoop::CheckRunnerSamples(const BatchInputs& inputs) const {
  const size_t rows = inputs.sampled_rows.size();
  const bool logprobs = std::any_of(inputs.row_sampling.begin(), inputs.row_sampling.end(),
                                    [](const RowSampling& s) { return s.top_logprobs >= 0; });
  if (runner_->sampled_tokens().size() != rows ||
      (logprobs && runner_->sampled_logprobs().size() != rows)) {
    throw Error("the runner returned " + std::to_string(runner_->sampled_tokens().size()) +
                " tokens and " + std::to_string(runner_->sampled_logprobs().size()) +
                " logprobs for " + std::to_string(rows) + " sampled rows");
  }
}

void EngineLoop::Sample(Request& req, size_t copy_index, std::span<const float> logits) {
  Emit(req, copy_index, req.copies[copy_index].sampler->Next(logits));
}

void EngineLoop::Emit(Request& req, size_t copy_index, const SampleResult& r) {
  Copy& copy = req.copies[copy_index];
  Sequence* seq = scheduler_->Find(copy.seq_id);
  ++generation_tokens_;
  ++req.usage.completion_tokens;
  SequenceDelta& delta = DeltaFor(req, static_cast<int32_t>(copy_index));
  TokenOutput out{r.token, r.logprob, {}};
  if (req.request.params.logprobs) out.top_logprobs = r.top_logprobs;
  delta.tokens.push_back(std::move(out));
  if (r.is_stop_token) {
    const auto& ids = req.request.params.stop_token_ids;
    const bool listed = std::find(ids.begin(), ids.end(), r.token) != ids.end();
    // Text held back for a stop string that never completed is real output.
    StopMatcher::Output rest = copy.sampler->PushText(copy.detokenizer.Flush());
    delta.text += rest.text + copy.sampler->FlushText();
    Finish(req, copy_index, FinishKind::kStop, listed ? std::to_string(r.token) : std::string());
    return;
  }
  const StopMatcher::Output text = copy.sampler->PushText(copy.detokenizer.Push(r.token));
  delta.text += text.text;
  if (text.stopped) {
    Finish(req, copy_index, FinishKind::kStop, req.request.params.stop[text.stop_index]);
    return;
  }
  seq->tokens.push_back(r.token);
  if (r.finish == FinishReason::kLength ||
      static_cast<int64_t>(seq->tokens.size()) >= max_model_len_) {
    Finish(req, copy_index, FinishKind::kLength);
  }
}

void EngineLoop::CheckCancellations() {
  const auto now = Clock::now();
  for (auto& [arrival, req] : requests_) {
    const bool expired = req->request.deadline && now >= *req->request.deadline;
    if (!req->stream->cancelled() && !expired) continue;
    for (size_t i = 0; i < req->copies.size(); ++i) Finish(*req, i, FinishKind::kAbort);
    // Copies not forked yet will never run.
    for (int32_t i = static_cast<int32_t>(req->copies.size()); i < req->request.params.n; ++i) {
      DeltaFor(*req, i).finish = FinishKind::kAbort;
    }
  }
}

void EngineLoop::FailRequests(const std::vector<int64_t>& seq_ids, const std::string& error) {
  for (int64_t id : seq_ids) {
    auto it = by_seq_.find(id);
    if (it == by_seq_.end()) continue;
    Request& req = *it->second.first;
    req.update.error = error;
    for (size_t i = 0; i < req.copies.size(); ++i) Finish(req, i, FinishKind::kError);
    for (int32_t i = static_cast<int32_t>(req.copies.size()); i < req.request.params.n; ++i) {
      DeltaFor(req, i).finish = FinishKind::kError;
    }
  }
}

// Nothing runs and the head of the queue still cannot start: no memory will ever be freed for
// it (Validate guards against this; it is the last line of defence against a silent stall).
void EngineLoop::FailHeadIfStuck() {
  if (!scheduler_->running().empty() || scheduler_->waiting().empty()) return;
  FailRequests({scheduler_->waiting().front()->id},
               "the KV cache cannot hold this request's prompt; raise --kv-cache-memory");
}

bool EngineLoop::Step() {
  const auto t_start = Clock::now();
  CheckCancellations();
  StepPlan plan = scheduler_->Schedule(step_budget_.prefill_with_decodes());
  if (plan.empty()) {
    FailHeadIfStuck();
    const bool had_work = !requests_.empty();
    Publish();
    return had_work;
  }

  std::vector<LogitsRow> rows;
  for (const ScheduledChunk& c : plan.chunks) {
    if (c.all_logits) {
      for (int64_t i = 0; i < c.num_tokens; ++i) {
        rows.push_back({c.seq_id, c.start + i, c.sample && i + 1 == c.num_tokens});
      }
    } else if (c.sample) {
      rows.push_back({c.seq_id, c.start + c.num_tokens - 1, true});
    }
    const Sequence* seq = scheduler_->Find(c.seq_id);
    prompt_tokens_ += std::clamp<int64_t>(seq->prompt_tokens - c.start, 0, c.num_tokens);
  }
  PlanSampledRows(rows, plan.inputs);
  const auto t_forward = Clock::now();
  try {
    KvStorage& storage = runner_->kv_storage();
    for (const BlockCopy& copy : copies_) storage.CopyBlock(copy.src, copy.dst);
    copies_.clear();
    runner_->Execute(plan.inputs, logits_);
    CheckRunnerSamples(plan.inputs);
  } catch (const std::exception& e) {
    spdlog::error("engine step failed: {}", e.what());
    ++failed_steps_;
    ++consecutive_failed_steps_;
    last_step_error_ = e.what();
    std::vector<int64_t> ids;
    for (const ScheduledChunk& c : plan.chunks) ids.push_back(c.seq_id);
    FailRequests(ids, std::string("internal error: ") + e.what());
    Publish();
    return true;
  }
  scheduler_->Complete(plan);
  ++steps_;
  consecutive_failed_steps_ = 0;
  const auto t_sample = Clock::now();

  const int64_t vocab = model_.config.vocab_size;
  const std::vector<int64_t>& sampled_rows = plan.inputs.sampled_rows;
  const std::span<const int32_t> sampled_tokens = runner_->sampled_tokens();
  const std::span<const RowLogprobs> sampled_logprobs = runner_->sampled_logprobs();
  size_t next_sampled = 0;
  for (size_t row = 0; row < rows.size(); ++row) {
    // The row was sampled by the runner: its logits were never copied.
    const bool by_runner = next_sampled < sampled_rows.size() &&
                           sampled_rows[next_sampled] == static_cast<int64_t>(row);
    const RowLogprobs* runner_logprobs =
        by_runner && !sampled_logprobs.empty() ? &sampled_logprobs[next_sampled] : nullptr;
    const int32_t runner_token = by_runner ? sampled_tokens[next_sampled++] : -1;
    auto it = by_seq_.find(rows[row].seq_id);
    if (it == by_seq_.end()) continue;
    auto [req, copy_index] = it->second;
    const std::span<const float> logits(logits_.data() + row * vocab, vocab);
    if (!by_runner) {
      RecordPromptLogprob(*req, rows[row].position, logits);
    } else if (!rows[row].sample) {
      RecordPromptLogprob(*req, rows[row].position, *runner_logprobs);
    }
    if (!rows[row].sample) continue;
    const int64_t sampled_seq = rows[row].seq_id;
    if (req->copies.size() < static_cast<size_t>(req->request.params.n)) {
      // The prompt is in: the other copies start here, sharing its blocks, each sampling the
      // same first logits with its own generator.
      req->usage.cached_tokens = static_cast<int32_t>(scheduler_->Find(sampled_seq)->num_cached);
      PublishPromptLogprobs(*req, sampled_seq);
      for (int32_t i = 1; i < req->request.params.n; ++i) {
        const int64_t child = next_seq_id_++;
        scheduler_->Fork(sampled_seq, child, copies_);
        req->copies.push_back(
            Copy{child, NewSampler(req->request, i), IncrementalDetokenizer(tokenizer_)});
        by_seq_[child] = {req, req->copies.size() - 1};
      }
      for (size_t i = 0; i < req->copies.size(); ++i) Sample(*req, i, logits);
    } else {
      if (req->usage.completion_tokens == 0) {
        req->usage.cached_tokens = static_cast<int32_t>(scheduler_->Find(sampled_seq)->num_cached);
        PublishPromptLogprobs(*req, sampled_seq);
      }
      if (by_runner) {
        Emit(*req, copy_index,
             req->copies[copy_index].sampler->Accept(runner_token, runner_logprobs));
      } else {
        Sample(*req, copy_index, logits);
      }
    }
  }
  Publish();
  const auto t_end = Clock::now();
  step_budget_.Observe(plan.decode_tokens, plan.num_tokens - plan.decode_tokens,
                       std::chrono::duration<double>(t_end - t_start).count());
  if (spdlog::should_log(spdlog::level::debug)) {
    const auto ms = [](auto a, auto b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    spdlog::debug(
        "step {}: {} sequences, {} tokens ({} decoding, {} admitted, {} preempted); forward "
        "{:.2f} ms, sampling {:.2f} ms; next prefill allowance with decodes {}",
        steps_, plan.chunks.size(), plan.num_tokens, plan.decode_tokens, plan.admitted.size(),
        plan.preempted.size(), ms(t_forward, t_sample), ms(t_sample, t_end),
        step_budget_.prefill_with_decodes());
  }
  return true;
}

bool EngineLoop::NeedsPromptLogprob(const Request& req, int64_t position) {
  return req.request.params.prompt_logprobs >= 0 && !req.prompt_logprobs_sent &&
         position + 1 < static_cast<int64_t>(req.request.prompt.size());
}

void EngineLoop::RecordPromptLogprob(Request& req, int64_t position,
                                     std::span<const float> logits) {
  if (!NeedsPromptLogprob(req, position)) return;
  const int32_t top = req.request.params.prompt_logprobs;
  const auto& prompt = req.request.prompt;
  // Recomputed after a preemption: the same position is simply written again.
  const int32_t token = prompt[position + 1];
  TokenLogprobs lp = ComputeTokenLogprobs(logits, token, top);
  req.prompt_logprobs[position] = TokenOutput{token, lp.logprob, std::move(lp.top), lp.rank};
}

void EngineLoop::RecordPromptLogprob(Request& req, int64_t position, const RowLogprobs& lp) {
  if (!NeedsPromptLogprob(req, position)) return;
  std::vector<TokenLogprob> top;
  for (int32_t i = 0; i < lp.top_count; ++i) top.push_back({lp.top_tokens[i], lp.top_logprobs[i]});
  req.prompt_logprobs[position] =
      TokenOutput{req.request.prompt[position + 1], lp.logprob, std::move(top), lp.rank};
}

void EngineLoop::PublishPromptLogprobs(Request& req, int64_t seq_id) {
  if (req.request.params.prompt_logprobs < 0 || req.prompt_logprobs_sent) return;
  req.update.prompt_logprobs = std::move(req.prompt_logprobs);
  req.prompt_logprobs_sent = true;
  req.touched = true;
  // Sent: a resumed sequence may take its prompt from the prefix cache again.
  if (Sequence* seq = scheduler_->Find(seq_id)) seq->prompt_logits = false;
}

void EngineLoop::Publish() {
  for (auto it = requests_.begin(); it != requests_.end();) {
    Request& req = *it->second;
    const bool done =
        std::all_of(req.copies.begin(), req.copies.end(), [](const Copy& c) { return c.finished; });
    if (req.touched || done) {
      req.update.finished = done;
      req.update.usage = req.usage;
      req.stream->Push(std::move(req.update));
      req.update = RequestUpdate{};
      req.touched = false;
    }
    if (done) {
      ++finished_;
      it = requests_.erase(it);
    } else {
      ++it;
    }
  }
}

void EngineLoop::AbortAll() {
  for (auto& [arrival, req] : requests_) {
    for (size_t i = 0; i < req->copies.size(); ++i) Finish(*req, i, FinishKind::kAbort);
    for (int32_t i = static_cast<int32_t>(req->copies.size()); i < req->request.params.n; ++i) {
      DeltaFor(*req, i).finish = FinishKind::kAbort;
    }
  }
  Publish();
}

int32_t EngineLoop::waiting_requests() const {
  int32_t n = 0;  // requests none of whose copies runs yet
  for (const auto& [arrival, req] : requests_) {
    const Sequence* first = scheduler_->Find(req->copies[0].seq_id);
    n += req->copies.size() == 1 && first && first->status == SequenceStatus::kWaiting;
  }
  return n;
}

std::string EngineLoop::CheckInvariants() const { return kv_->CheckInvariants(); }

EngineStats EngineLoop::Stats() const {
  EngineStats s;
  const SchedulerStats sched = scheduler_->Stats();
  std::vector<const Request*> running;
  for (const Sequence* seq : scheduler_->running()) {
    if (auto it = by_seq_.find(seq->id); it != by_seq_.end()) running.push_back(it->second.first);
  }
  std::sort(running.begin(), running.end());
  s.running_requests =
      static_cast<int32_t>(std::unique(running.begin(), running.end()) - running.begin());
  s.waiting_requests = waiting_requests();
  s.running_sequences = sched.running;
  const BlockPoolStats pool = kv_->pool().Stats();
  s.kv_blocks_total = pool.total_blocks;
  s.kv_blocks_used = pool.used_blocks;
  s.kv_blocks_cached = pool.cached_free_blocks;
  s.kv_real_bits_per_element = real_bits_;
  s.kv_equivalent_bits = equivalent_bits_;
  if (const PrefixCache* prefix = kv_->prefix_cache()) {
    const PrefixCacheStats p = prefix->Stats();
    s.prefix_cache_queries = p.queries;
    s.prefix_cache_hits = p.hits;
  }
  s.preemptions = sched.preemptions;
  s.prompt_tokens = prompt_tokens_;
  s.generation_tokens = generation_tokens_;
  s.steps = steps_;
  s.max_concurrent_sequences = sched.max_running;
  s.max_concurrent_full_sequences = sched.max_running_full;
  s.requests_finished = finished_;
  s.failed_steps = failed_steps_;
  s.consecutive_failed_steps = consecutive_failed_steps_;
  s.last_step_error = last_step_error_;
  return s;
}

}  // namespace xq
