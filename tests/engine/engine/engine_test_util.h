// Helpers for engine tests: drain a request stream into per-copy results.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace xq::test {

struct CopyResult {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::string text;
  FinishKind finish = FinishKind::kNone;
  std::string stop_reason;
};

struct RequestResult {
  std::vector<CopyResult> copies;  // by index
  Usage usage;
  std::string error;
  int updates = 0;
};

// Reads updates until the final one (fails the test after `timeout`).
RequestResult Drain(RequestStream& stream,
                    std::chrono::milliseconds timeout = std::chrono::minutes(5));
// Adds one update to `result`; true when it was the final one.
bool Accumulate(RequestResult& result, RequestUpdate update);

}  // namespace xq::test
