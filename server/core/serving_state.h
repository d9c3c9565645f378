// ServingState: what both frontends share about the served model: the model once loaded, the
// lifecycle (loading, ready, draining), and the generation responses still being written.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/core/prompt_builder.h"
#include "server/core/tool_call_format.h"

namespace xq {

// What the frontends need of a loaded model; every pointer outlives the servers.
struct ServingModel {
  Engine* engine = nullptr;
  const Tokenizer* tokenizer = nullptr;
  const PromptBuilder* prompts = nullptr;
  std::string name;  // the id clients use
  int64_t max_model_len = 0;
  int64_t vocab_size = 0;
  int64_t created = 0;  // unix seconds
  // How the model writes tool calls; nullopt when its chat template cannot offer tools.
  std::optional<ToolCallFormat> tool_format;
};

enum class ServerState { kLoading, kReady, kDraining };

class ServingState {
 public:
  // retry_after_s goes with the 503 that RequireModel throws.
  explicit ServingState(int retry_after_s) : retry_after_s_(retry_after_s) {}

  // Publishes the model; requests are served from now on.
  void SetReady(ServingModel model);
  void SetDraining() { state_.store(ServerState::kDraining); }
  ServerState state() const { return state_.load(); }
  // The model, or throws ApiError 503 (loading / shutting down) for generation requests.
  const ServingModel& RequireModel() const;
  // The model whatever the state, or null while loading.
  const ServingModel* model() const {
    return state_.load() == ServerState::kLoading ? nullptr : &model_;
  }

  // Generation responses still being written (streams included).
  void GenerationStarted() { active_generations_.fetch_add(1); }
  void GenerationEnded() { active_generations_.fetch_sub(1); }
  int active_generations() const { return active_generations_.load(); }
  // Waits until no generation response is being written, at most `timeout`; true when none is.
  bool WaitGenerationsDone(std::chrono::milliseconds timeout) const;

 private:
  int retry_after_s_;
  std::atomic<ServerState> state_{ServerState::kLoading};
  std::atomic<int> active_generations_{0};
  ServingModel model_;  // written once, before state_ becomes kReady
};

}  // namespace xq
