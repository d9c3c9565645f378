#include "engine/tokenizer/vocab_index.h"

#include "engine/common/error.h"

namespace xq {

VocabIndex::VocabIndex(const std::vector<std::string>& tokens) {
  map_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto [it, inserted] = map_.emplace(tokens[i], static_cast<int32_t>(i));
    if (!inserted) {
      throw Error("tokenizer: duplicate token '" + tokens[i] + "' in tokens: ids " +
                  std::to_string(it->second) + " and " + std::to_string(i));
    }
  }
}

}  // namespace xq
