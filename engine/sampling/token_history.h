// TokenHistory: which tokens one sequence has seen (prompt + output) and how often it generated
// each, the state the repetition / presence / frequency penalties read.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <unordered_set>

namespace xq {

class TokenHistory {
 public:
  TokenHistory() = default;
  explicit TokenHistory(std::span<const int32_t> prompt) : seen_(prompt.begin(), prompt.end()) {}

  void AddOutput(int32_t token) {
    seen_.insert(token);
    ++output_counts_[token];
  }

  // Distinct tokens of prompt + output.
  const std::unordered_set<int32_t>& seen() const { return seen_; }
  // Generated tokens only, with their counts.
  const std::unordered_map<int32_t, int32_t>& output_counts() const { return output_counts_; }

 private:
  // Sparse on purpose: a dense vocab-sized array per sequence would cost MBs at high concurrency.
  std::unordered_set<int32_t> seen_;
  std::unordered_map<int32_t, int32_t> output_counts_;
};

}  // namespace xq
