// RequestStream: the thread-safe channel between the engine thread (producer) and the frontend
// serving one request (consumer). The consumer can cancel it, which the engine honours at its
// next step.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "engine/request.h"

namespace xq {

class RequestStream {
 public:
  explicit RequestStream(std::string id) : id_(std::move(id)) {}

  // Consumer: the next update, waiting at most `timeout`; nullopt on timeout or after the final
  // update was taken.
  std::optional<RequestUpdate> Next(std::chrono::milliseconds timeout);
  // Consumer: asks the engine to stop the request (client gone). Idempotent, never blocks.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // True once the final update was taken by the consumer.
  bool done() const;
  const std::string& id() const { return id_; }

  // Producer (engine thread): appends an update; consecutive pending updates are merged so a
  // slow consumer never makes the queue grow without bound.
  void Push(RequestUpdate update);

 private:
  std::string id_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::optional<RequestUpdate> pending_;  // updates not yet taken, merged into one
  bool final_pushed_ = false;
  bool final_taken_ = false;
};

}  // namespace xq
