#include "tests/engine/engine/engine_test_util.h"

#include <gtest/gtest.h>

namespace xq::test {

bool Accumulate(RequestResult& result, RequestUpdate update) {
  ++result.updates;
  for (SequenceDelta& d : update.deltas) {
    if (static_cast<size_t>(d.index) >= result.copies.size()) result.copies.resize(d.index + 1);
    CopyResult& c = result.copies[d.index];
    EXPECT_EQ(c.finish, FinishKind::kNone) << "output after copy " << d.index << " finished";
    c.text += d.text;
    for (const TokenOutput& t : d.tokens) {
      c.tokens.push_back(t.token);
      c.logprobs.push_back(t.logprob);
    }
    if (d.finish != FinishKind::kNone) {
      c.finish = d.finish;
      c.stop_reason = d.stop_reason;
    }
  }
  result.usage = update.usage;
  if (!update.error.empty()) result.error = update.error;
  return update.finished;
}

RequestResult Drain(RequestStream& stream, std::chrono::milliseconds timeout) {
  RequestResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<RequestUpdate> u = stream.Next(std::chrono::milliseconds(100));
    if (u && Accumulate(result, std::move(*u))) return result;
  }
  ADD_FAILURE() << "request " << stream.id() << " did not finish in time";
  return result;
}

}  // namespace xq::test
