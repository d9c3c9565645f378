// SubmitError: why Engine::Submit refused a request, in terms no transport owns. Each frontend
// turns it into its own status (HTTP 400 / 429 / 503 / 500, gRPC INVALID_ARGUMENT /
// RESOURCE_EXHAUSTED / UNAVAILABLE / INTERNAL), so both answer the same refusal the same way.
#pragma once

#include <exception>
#include <string>

namespace xq {

enum class SubmitErrorKind {
  kInvalidRequest,  // InvalidRequest: the request itself is at fault
  kQueueFull,       // EngineBusy: the waiting queue is full; retrying later may succeed
  kShuttingDown,    // EngineBusy while draining: this server will not take it
  kInternal,        // anything Submit does not promise to throw: a bug, not the client's fault
};

struct SubmitError {
  SubmitErrorKind kind = SubmitErrorKind::kInternal;
  std::string message;  // the engine's words ("max_tokens: the prompt ... exceed ...")
  std::string param;    // the request field the message starts with, empty when none
};

// Classifies what Engine::Submit threw; logs the unexpected (kInternal) ones.
SubmitError ClassifySubmitError(const std::exception& e);

}  // namespace xq
