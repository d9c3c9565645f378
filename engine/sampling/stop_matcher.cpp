#include "engine/sampling/stop_matcher.h"

#include <algorithm>
#include <cassert>

namespace xq {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_) longest_ = std::max(longest_, s.size());
}

size_t StopMatcher::HoldLength() const {
  // Stop strings are complete UTF-8 and the text arrives in whole characters, so a held suffix
  // that matches a stop string's prefix also starts on a character boundary.
  for (size_t len = std::min(held_.size(), longest_ - 1); len > 0; --len) {
    const std::string_view tail = std::string_view(held_).substr(held_.size() - len);
    for (const auto& s : stops_) {
      if (s.size() > len && std::string_view(s).substr(0, len) == tail) return len;
    }
  }
  return 0;
}

StopMatcher::Output StopMatcher::Push(std::string_view piece, bool allow_stop) {
  assert(!stopped_);
  Output out;
  if (stops_.empty()) {
    out.text.assign(piece);
    return out;
  }
  held_.append(piece);
  if (allow_stop) {
    // Earliest match wins; a match cannot start in text already emitted, since every possible
    // start was held back.
    size_t best = std::string::npos;
    for (size_t i = 0; i < stops_.size(); ++i) {
      const size_t at = held_.find(stops_[i]);
      if (at < best) {
        best = at;
        out.stop_index = static_cast<int32_t>(i);
      }
    }
    if (best != std::string::npos) {
      out.text = held_.substr(0, best);
      out.stopped = stopped_ = true;
      held_.clear();
      return out;
    }
  }
  const size_t hold = HoldLength();
  out.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopMatcher::Flush() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

}  // namespace xq
