// Request ids for both frontends: HTTP's x-request-id header, gRPC's x-request-id metadata, the
// access log and the response ids ("chatcmpl-<id>", "gen-<id>") all use one generator.
#pragma once

#include <string>

namespace xq {

// 16 random lowercase hex digits; thread-safe.
std::string NewRequestId();

}  // namespace xq
