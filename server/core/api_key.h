// API-key checks shared by the HTTP and gRPC frontends ("Authorization: Bearer KEY").
#pragma once

#include <string_view>

namespace xq {

// Compares in time that depends only on the presented key's length, so a caller cannot learn how
// long a prefix of the real key it guessed right.
bool SameKey(std::string_view presented, std::string_view expected);

// True when `authorization` (the header or metadata value) is "Bearer " followed by `api_key`.
bool BearerKeyMatches(std::string_view authorization, std::string_view api_key);

}  // namespace xq
