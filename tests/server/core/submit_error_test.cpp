// What Engine::Submit throws, classified once for both frontends.
#include "server/core/submit_error.h"

#include <gtest/gtest.h>

#include <new>
#include <stdexcept>

#include "engine/engine.h"

namespace xq {
namespace {

TEST(SubmitError, InvalidRequestNamesTheFieldItsMessageStartsWith) {
  const SubmitError e =
      ClassifySubmitError(InvalidRequest("max_tokens: the prompt plus max_tokens exceed 512"));
  EXPECT_EQ(e.kind, SubmitErrorKind::kInvalidRequest);
  EXPECT_EQ(e.param, "max_tokens");
  EXPECT_EQ(e.message, "max_tokens: the prompt plus max_tokens exceed 512");
}

TEST(SubmitError, InvalidRequestWithoutALeadingFieldNamesNone) {
  // Prose before the colon, no colon at all, or nothing before it: not a field name.
  for (const char* message : {"the prompt is empty: nothing to do", "no field here", ": bare"}) {
    const SubmitError e = ClassifySubmitError(InvalidRequest(message));
    EXPECT_EQ(e.kind, SubmitErrorKind::kInvalidRequest) << message;
    EXPECT_EQ(e.param, "") << message;
    EXPECT_EQ(e.message, message);
  }
}

TEST(SubmitError, BusyIsQueueFullOrShuttingDown) {
  const SubmitError full = ClassifySubmitError(EngineBusy("the request queue is full", false));
  EXPECT_EQ(full.kind, SubmitErrorKind::kQueueFull);
  EXPECT_EQ(full.message, "the request queue is full");
  EXPECT_EQ(full.param, "");
  const SubmitError draining = ClassifySubmitError(EngineBusy("shutting down", true));
  EXPECT_EQ(draining.kind, SubmitErrorKind::kShuttingDown);
}

// Submit promises InvalidRequest or EngineBusy; anything else is the server's fault, not the
// request's (the HTTP frontend used to say 500 here and the gRPC one INVALID_ARGUMENT).
TEST(SubmitError, AnythingElseIsInternal) {
  EXPECT_EQ(ClassifySubmitError(std::out_of_range("vector::at")).kind, SubmitErrorKind::kInternal);
  EXPECT_EQ(ClassifySubmitError(std::bad_alloc()).kind, SubmitErrorKind::kInternal);
  const SubmitError plain = ClassifySubmitError(Error("max_tokens: looks like a field"));
  EXPECT_EQ(plain.kind, SubmitErrorKind::kInternal);
  EXPECT_EQ(plain.param, "");
  EXPECT_EQ(plain.message, "max_tokens: looks like a field");
}

}  // namespace
}  // namespace xq
