#include "engine/request_stream.h"

namespace xq {
namespace {

void Merge(RequestUpdate& into, RequestUpdate&& next) {
  for (SequenceDelta& d : next.deltas) {
    SequenceDelta* same = nullptr;
    for (SequenceDelta& e : into.deltas) {
      if (e.index == d.index) same = &e;
    }
    if (!same) {
      into.deltas.push_back(std::move(d));
      continue;
    }
    same->text += d.text;
    for (TokenOutput& t : d.tokens) same->tokens.push_back(std::move(t));
    if (d.finish != FinishKind::kNone) {
      same->finish = d.finish;
      same->stop_reason = std::move(d.stop_reason);
    }
  }
  into.finished = into.finished || next.finished;
  into.usage = next.usage;
  if (!next.error.empty()) into.error = std::move(next.error);
}

}  // namespace

const char* FinishKindName(FinishKind kind) {
  switch (kind) {
    case FinishKind::kStop:
      return "stop";
    case FinishKind::kLength:
      return "length";
    case FinishKind::kAbort:
      return "abort";
    case FinishKind::kError:
      return "error";
    case FinishKind::kNone:
      break;
  }
  return "";
}

std::optional<RequestUpdate> RequestStream::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, timeout, [&] { return pending_.has_value() || final_taken_; }) ||
      !pending_) {
    return std::nullopt;
  }
  RequestUpdate update = std::move(*pending_);
  pending_.reset();
  if (update.finished) final_taken_ = true;
  return update;
}

bool RequestStream::done() const {
  std::lock_guard lock(mutex_);
  return final_taken_;
}

void RequestStream::Push(RequestUpdate update) {
  {
    std::lock_guard lock(mutex_);
    if (final_pushed_) return;  // nothing follows the final update
    final_pushed_ = update.finished;
    if (pending_) {
      Merge(*pending_, std::move(update));
    } else {
      pending_ = std::move(update);
    }
  }
  ready_.notify_all();
}

}  // namespace xq
