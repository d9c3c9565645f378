// Health re-evaluated on a thread of its own: how the gRPC health service, which Kubernetes'
// liveness probe asks (deploy/kubernetes), follows the engine between requests. /health asks
// CheckHealth on each request instead.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "engine/engine.h"

namespace xq {

class HealthWatcher {
 public:
  // Every `interval` (and at once), CheckHealth of the ready server on stats(); set_serving gets
  // the result whenever it differs from the last one it got.
  HealthWatcher(std::function<EngineStats()> stats, std::function<void(bool)> set_serving,
                std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~HealthWatcher();  // stops the thread; set_serving is not called after it returns
  HealthWatcher(const HealthWatcher&) = delete;
  HealthWatcher& operator=(const HealthWatcher&) = delete;

 private:
  void Run();

  std::function<EngineStats()> stats_;
  std::function<void(bool)> set_serving_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace xq
