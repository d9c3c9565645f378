// HandlerPool: the threads route handlers run on. A handler may block for a whole generation
// (a stream holds its thread to the end), so these are separate from the transport's I/O
// threads, which only move bytes: idle and slow connections hold no handler thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace xq {

class HandlerPool {
 public:
  explicit HandlerPool(size_t threads);
  ~HandlerPool();  // runs what was queued, then joins
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  void Post(std::function<void()> task);

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace xq
