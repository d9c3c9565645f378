// VocabIndex: token text -> id lookup shared by the BPE and SentencePiece encoders.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace xq {

class VocabIndex {
 public:
  // Throws xq::Error naming the token when two ids share one text.
  explicit VocabIndex(const std::vector<std::string>& tokens);

  int32_t Find(std::string_view text) const {  // -1 when absent
    auto it = map_.find(text);
    return it == map_.end() ? -1 : it->second;
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> map_;
};

}  // namespace xq
