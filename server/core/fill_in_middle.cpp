#include "server/core/fill_in_middle.h"

#include <array>
#include <string_view>
#include <unordered_map>

namespace xq {

std::optional<FimTokens> FindFimTokens(const TokenizerSpec& spec) {
  static constexpr std::array<std::array<std::string_view, 3>, 5> kFamilies = {{
      {"<fim_prefix>", "<fim_suffix>", "<fim_middle>"},
      {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"},
      {"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
       "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>",
       "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>"},
      {"<PRE>", "<SUF>", "<MID>"},
      {"\xE2\x96\x81<PRE>", "\xE2\x96\x81<SUF>", "\xE2\x96\x81<MID>"},
  }};
  std::unordered_map<std::string_view, int32_t> ids;
  for (const auto& family : kFamilies) {
    for (std::string_view name : family) ids.emplace(name, -1);
  }
  for (size_t id = 0; id < spec.tokens.size(); ++id) {
    auto it = ids.find(spec.tokens[id]);
    if (it != ids.end() && it->second < 0) it->second = static_cast<int32_t>(id);
  }
  for (const auto& family : kFamilies) {
    const int32_t p = ids[family[0]], s = ids[family[1]], m = ids[family[2]];
    if (p >= 0 && s >= 0 && m >= 0) return FimTokens{p, s, m};
  }
  return std::nullopt;
}

}  // namespace xq
