#include "server/core/submit_error.h"

#include <spdlog/spdlog.h>

#include "engine/engine.h"

namespace xq {
namespace {

// Engine messages start with the field they refuse ("max_tokens: ...") when there is one; a
// prefix with a space in it is prose, not a field.
std::string LeadingField(const std::string& message) {
  const size_t colon = message.find(':');
  if (colon == std::string::npos) return "";
  std::string field = message.substr(0, colon);
  if (field.empty() || field.find(' ') != std::string::npos) return "";
  return field;
}

}  // namespace

SubmitError ClassifySubmitError(const std::exception& e) {
  if (const auto* busy = dynamic_cast<const EngineBusy*>(&e)) {
    return {busy->shutting_down() ? SubmitErrorKind::kShuttingDown : SubmitErrorKind::kQueueFull,
            busy->what(), ""};
  }
  if (dynamic_cast<const InvalidRequest*>(&e)) {
    return {SubmitErrorKind::kInvalidRequest, e.what(), LeadingField(e.what())};
  }
  // Submit promises InvalidRequest or EngineBusy only, so this is a server fault whatever its type.
  spdlog::error("Engine::Submit failed unexpectedly: {}", e.what());
  return {SubmitErrorKind::kInternal, e.what(), ""};
}

}  // namespace xq
