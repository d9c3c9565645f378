#include "server/core/api_key.h"

namespace xq {

bool SameKey(std::string_view presented, std::string_view expected) {
  if (expected.empty()) return presented.empty();
  // Every byte is visited whatever differs; the length mismatch is folded in, not returned early.
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < presented.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i] ^ expected[i % expected.size()]);
  }
  return diff == 0;
}

bool BearerKeyMatches(std::string_view authorization, std::string_view api_key) {
  constexpr std::string_view kPrefix = "Bearer ";
  return authorization.starts_with(kPrefix) &&
         SameKey(authorization.substr(kPrefix.size()), api_key);
}

}  // namespace xq
