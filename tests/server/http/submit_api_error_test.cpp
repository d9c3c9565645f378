// The HTTP answer to each kind of refused submission.
#include <gtest/gtest.h>

#include "server/http/http_context.h"

namespace xq {
namespace {

TEST(SubmitApiError, InvalidRequestIs400NamingTheField) {
  const ApiError e =
      SubmitApiError({SubmitErrorKind::kInvalidRequest, "max_tokens: too many", "max_tokens"}, 7);
  EXPECT_EQ(e.status(), 400);
  EXPECT_EQ(e.type(), "invalid_request_error");
  EXPECT_EQ(e.param(), "max_tokens");
  EXPECT_EQ(std::string(e.what()), "max_tokens: too many");
  EXPECT_FALSE(e.retry_after.has_value());
}

TEST(SubmitApiError, BusyIs429Or503WithRetryAfter) {
  const ApiError full = SubmitApiError({SubmitErrorKind::kQueueFull, "queue full", ""}, 7);
  EXPECT_EQ(full.status(), 429);
  EXPECT_EQ(full.type(), "rate_limit_error");
  EXPECT_EQ(full.code(), "queue_full");
  EXPECT_EQ(full.retry_after, 7);
  const ApiError draining =
      SubmitApiError({SubmitErrorKind::kShuttingDown, "shutting down", ""}, 7);
  EXPECT_EQ(draining.status(), 503);
  EXPECT_EQ(draining.type(), "service_unavailable_error");
  EXPECT_EQ(draining.code(), "shutting_down");
  EXPECT_EQ(draining.retry_after, 7);
}

TEST(SubmitApiError, InternalIs500) {
  const ApiError e = SubmitApiError({SubmitErrorKind::kInternal, "vector::at", ""}, 7);
  EXPECT_EQ(e.status(), 500);
  EXPECT_EQ(e.type(), "server_error");
  EXPECT_EQ(std::string(e.what()), "internal error: vector::at");
  EXPECT_FALSE(e.retry_after.has_value());
}

}  // namespace
}  // namespace xq
