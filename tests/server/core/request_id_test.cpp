#include "server/core/request_id.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace xq {
namespace {

TEST(RequestId, SixteenLowercaseHexDigits) {
  const std::string id = NewRequestId();
  ASSERT_EQ(id.size(), 16u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
}

TEST(RequestId, DistinctAcrossThreads) {
  constexpr int kThreads = 4, kPerThread = 1000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(NewRequestId());
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace xq
