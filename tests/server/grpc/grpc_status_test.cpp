// gRPC status codes: each refused submission's, and agreement with the HTTP frontend's answer
// to the same engine exception.
#include "server/grpc/grpc_status.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "engine/engine.h"
#include "server/grpc/proto_convert.h"
#include "server/http/http_context.h"

namespace xq {
namespace {

namespace pb = xquant::v1;

TEST(GrpcStatus, SubmitErrorCodes) {
  const grpc::Status invalid =
      SubmitStatus({SubmitErrorKind::kInvalidRequest, "max_tokens: too many", "max_tokens"}, 7);
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(invalid.error_message(), "max_tokens: too many");

  const grpc::Status full = SubmitStatus({SubmitErrorKind::kQueueFull, "queue full", ""}, 7);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(full.error_message(), "queue full (retry after 7 s)");

  const grpc::Status draining =
      SubmitStatus({SubmitErrorKind::kShuttingDown, "shutting down", ""}, 7);
  EXPECT_EQ(draining.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(draining.error_message(), "shutting down (retry after 7 s)");

  const grpc::Status internal = SubmitStatus({SubmitErrorKind::kInternal, "vector::at", ""}, 7);
  EXPECT_EQ(internal.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(internal.error_message(), "internal error: vector::at");
}

TEST(GrpcStatus, SubmitErrorNamesTheProtoField) {
  pb::GenerateRequest text;
  text.set_text("x");
  const SubmitError renamed = ToProtoFieldError(
      SubmitError{SubmitErrorKind::kInvalidRequest, "max_tokens: too many", "max_tokens"}, text);
  EXPECT_EQ(renamed.param, "sampling.max_tokens");
  EXPECT_EQ(renamed.message, "sampling.max_tokens: too many");
  EXPECT_EQ(ToProtoFieldError(
                SubmitError{SubmitErrorKind::kInvalidRequest, "prompt: too long", "prompt"}, text)
                .message,
            "text: too long");
  const SubmitError busy{SubmitErrorKind::kQueueFull, "queue full", ""};
  EXPECT_EQ(ToProtoFieldError(busy, text).message, "queue full");
}

TEST(GrpcStatus, ApiErrorCarriesRetryAfterInItsMessage) {
  ApiError busy(429, "rate_limit_error", "queue full", "", "queue_full");
  busy.retry_after = 3;
  const grpc::Status status = ToStatus(busy);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "queue full (retry after 3 s)");
  EXPECT_EQ(ToStatus(InvalidRequestError("n", "must be positive")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// The two frontends give the same answer to the same exception: the gRPC code is the one the
// HTTP status stands for.
TEST(GrpcStatus, AgreesWithHttpOnEveryEngineException) {
  const InvalidRequest invalid("max_tokens: too many");
  const EngineBusy full("queue full", false), draining("shutting down", true);
  const Error plain("a boundary error Submit does not promise");
  const std::out_of_range foreign("vector::at");
  const std::exception* thrown[] = {&invalid, &full, &draining, &plain, &foreign};
  for (const std::exception* e : thrown) {
    const SubmitError error = ClassifySubmitError(*e);
    const int http = SubmitApiError(error, 1).status();
    EXPECT_EQ(SubmitStatus(error, 1).error_code(), GrpcCode(http)) << e->what() << " -> " << http;
  }
}

}  // namespace
}  // namespace xq
