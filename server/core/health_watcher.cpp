#include "server/core/health_watcher.h"

#include <optional>
#include <utility>

#include "server/core/health.h"

namespace xq {

HealthWatcher::HealthWatcher(std::function<EngineStats()> stats,
                             std::function<void(bool)> set_serving,
                             std::chrono::milliseconds interval)
    : stats_(std::move(stats)), set_serving_(std::move(set_serving)), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

HealthWatcher::~HealthWatcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void HealthWatcher::Run() {
  std::optional<bool> reported;
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    const EngineStats stats = stats_();
    const bool serving = CheckHealth(ServerState::kReady, &stats).status == 200;
    if (reported != serving) {
      set_serving_(serving);
      reported = serving;
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

}  // namespace xq
