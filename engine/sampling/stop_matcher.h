// StopMatcher: finds stop strings in a sequence's text as it is detokenized piece by piece,
// across token boundaries, and decides which text is safe to emit now.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xq {

class StopMatcher {
 public:
  struct Output {
    std::string text;         // safe to emit now; never includes (part of) a stop string
    bool stopped = false;     // a stop string matched: the sequence ends after `text`
    int32_t stop_index = -1;  // which of the stop strings matched
  };

  explicit StopMatcher(std::vector<std::string> stops = {});

  // Feeds the next piece of text. The longest suffix that could still grow into a stop string
  // is held back until later pieces settle it. With allow_stop false (before min_tokens) no
  // match is reported, but the suffix is still held so a stop completed later is found.
  Output Push(std::string_view piece, bool allow_stop = true);

  // The held-back text, for when the sequence ends for another reason (EOS, length).
  std::string Flush();

  const std::vector<std::string>& stops() const { return stops_; }

 private:
  size_t HoldLength() const;

  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace xq
