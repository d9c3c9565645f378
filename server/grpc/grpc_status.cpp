#include "server/grpc/grpc_status.h"

#include <string>

namespace xq {
namespace {

std::string WithRetryAfter(const std::string& message, int64_t retry_after_s) {
  return message + " (retry after " + std::to_string(retry_after_s) + " s)";
}

}  // namespace

grpc::StatusCode GrpcCode(int http_status) {
  switch (http_status) {
    case 400:
    case 413:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return grpc::StatusCode::PERMISSION_DENIED;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 408:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case 429:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 499:
      return grpc::StatusCode::CANCELLED;
    case 501:
      return grpc::StatusCode::UNIMPLEMENTED;
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

grpc::Status ToStatus(const ApiError& error) {
  const std::string message =
      error.retry_after ? WithRetryAfter(error.what(), *error.retry_after) : error.what();
  return grpc::Status(GrpcCode(error.status()), message);
}

grpc::Status SubmitStatus(const SubmitError& error, int64_t retry_after_s) {
  switch (error.kind) {
    case SubmitErrorKind::kInvalidRequest:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, error.message);
    case SubmitErrorKind::kQueueFull:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          WithRetryAfter(error.message, retry_after_s));
    case SubmitErrorKind::kShuttingDown:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          WithRetryAfter(error.message, retry_after_s));
    case SubmitErrorKind::kInternal:
      break;
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "internal error: " + error.message);
}

}  // namespace xq
