// How the gRPC frontend reports failures: the status code for each kind of error the shared
// request path (server/core) raises.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>

#include "server/core/api_error.h"
#include "server/core/submit_error.h"

namespace xq {

// The gRPC status an ApiError's HTTP status stands for (400 -> INVALID_ARGUMENT, 401 ->
// UNAUTHENTICATED, 429 -> RESOURCE_EXHAUSTED, 503 -> UNAVAILABLE, ...).
grpc::StatusCode GrpcCode(int http_status);

// The ApiError's message, with "(retry after N s)" when it carries a Retry-After: gRPC has no
// header for it.
grpc::Status ToStatus(const ApiError& error);

// A refused submission: INVALID_ARGUMENT (message starting with the field), RESOURCE_EXHAUSTED
// or UNAVAILABLE (with "(retry after N s)"), INTERNAL for a server fault.
grpc::Status SubmitStatus(const SubmitError& error, int64_t retry_after_s);

}  // namespace xq
