// The watcher behind the gRPC health service: it reports the engine's health when it starts and
// each time it changes (failed steps in a row, then a success), and never after it is destroyed.
#include "server/core/health_watcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "server/core/health.h"

namespace xq {
namespace {

using namespace std::chrono_literals;

TEST(HealthWatcher, ReportsEachChangeOfTheEnginesHealth) {
  std::atomic<int32_t> failed_in_a_row{0};
  std::mutex mutex;
  std::vector<bool> reports;
  auto seen = [&] {
    std::lock_guard lock(mutex);
    return reports;
  };
  auto wait_for = [&](size_t n) {
    for (int i = 0; i < 2000 && seen().size() < n; ++i) std::this_thread::sleep_for(1ms);
    return seen();
  };
  {
    HealthWatcher watcher(
        [&] {
          EngineStats s;
          s.consecutive_failed_steps = failed_in_a_row;
          s.last_step_error = "device lost";
          return s;
        },
        [&](bool serving) {
          std::lock_guard lock(mutex);
          reports.push_back(serving);
        },
        2ms);
    EXPECT_EQ(wait_for(1), std::vector<bool>{true});
    failed_in_a_row = kUnhealthyAfterFailedSteps;
    EXPECT_EQ(wait_for(2), (std::vector<bool>{true, false}));
    failed_in_a_row = 0;
    EXPECT_EQ(wait_for(3), (std::vector<bool>{true, false, true}));
    std::this_thread::sleep_for(20ms);  // many checks, no change: nothing more reported
    EXPECT_EQ(seen().size(), 3u);
    failed_in_a_row = kUnhealthyAfterFailedSteps;
  }
  const size_t at_destruction = seen().size();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(seen().size(), at_destruction);
}

}  // namespace
}  // namespace xq
