#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include "engine/engine_loop.h"

namespace xq {

Engine::Engine(const Model& model, EngineConfig config, std::unique_ptr<ModelRunner> runner)
    : config_(std::move(config)),
      loop_(std::make_unique<EngineLoop>(model, config_, std::move(runner))) {
  stats_ = loop_->Stats();
  thread_ = std::thread([this] { Run(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    accepting_ = false;
  }
  wake_.notify_all();
  thread_.join();
}

int64_t Engine::max_model_len() const { return loop_->max_model_len(); }

std::shared_ptr<RequestStream> Engine::Submit(GenerateRequest request) {
  loop_->Validate(request);
  loop_->CompileGrammar(request);
  auto stream = std::make_shared<RequestStream>(request.id);
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) throw EngineBusy("the server is shutting down", /*shutting_down=*/true);
    if (waiting_ + static_cast<int32_t>(inbox_.size()) >= config_.max_waiting_requests) {
      throw EngineBusy("the request queue is full (" +
                           std::to_string(config_.max_waiting_requests) + " waiting); retry later",
                       /*shutting_down=*/false);
    }
    inbox_.emplace_back(std::move(request), stream);
    idle_now_ = false;
  }
  wake_.notify_all();
  return stream;
}

void Engine::Run() {
  for (;;) {
    std::vector<std::pair<GenerateRequest, std::shared_ptr<RequestStream>>> arrived;
    bool abort_all = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || abort_all_ || !inbox_.empty() || !loop_->idle(); });
      arrived.swap(inbox_);
      // Still waiting while the loop takes them in: without this, a Submit between the swap and
      // the next PublishStats would see neither and overrun max_waiting_requests.
      waiting_ += static_cast<int32_t>(arrived.size());
      abort_all = abort_all_ || stop_;
      abort_all_ = false;
    }
    for (auto& [request, stream] : arrived) loop_->Add(std::move(request), std::move(stream));
    if (abort_all) {
      loop_->AbortAll();
    } else {
      {
        std::lock_guard lock(mutex_);
        step_started_ = std::chrono::steady_clock::now();
      }
      loop_->Step();
    }
    PublishStats();
    std::lock_guard lock(mutex_);
    if (stop_ && loop_->idle() && inbox_.empty()) return;
  }
}

void Engine::PublishStats() {
  EngineStats stats = loop_->Stats();
  bool idle = false;
  {
    std::lock_guard lock(mutex_);
    waiting_ = stats.waiting_requests;  // queued in the loop
    stats.waiting_requests += static_cast<int32_t>(inbox_.size());
    stats_ = stats;
    step_started_.reset();
    idle = idle_now_ = loop_->idle() && inbox_.empty();
  }
  if (idle) idle_.notify_all();
}

EngineStats Engine::Stats() const {
  std::lock_guard lock(mutex_);
  EngineStats s = stats_;
  if (step_started_) {
    s.running_step_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - *step_started_).count();
  }
  return s;
}

void Engine::StopAccepting() {
  std::lock_guard lock(mutex_);
  accepting_ = false;
}

bool Engine::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return idle_now_; });
}

std::string Engine::CheckInvariants() const {
  // While idle_now_ holds under the lock, the engine thread does not touch the loop.
  std::lock_guard lock(mutex_);
  if (!idle_now_) return "engine busy";
  return loop_->CheckInvariants();
}

void Engine::AbortAll() {
  {
    std::lock_guard lock(mutex_);
    abort_all_ = true;
    idle_now_ = false;
  }
  wake_.notify_all();
}

}  // namespace xq
