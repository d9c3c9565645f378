// Requests the transport would otherwise wait on until its read timeout (30 s): a body whose
// length is missing, malformed or over the limit, and methods no route takes. Answered from
// the request head, before any body is read, with the connection closed (the unread body
// cannot be told apart from a next request).
#pragma once

#include "server/http/transport/http_message.h"

#include <cstddef>

namespace xq {

// True when `res` now holds the answer (411, 400, 413 or 405); false to route the request.
bool RejectBeforeBody(const HttpRequest& req, HttpResponse& res, size_t max_body);

}  // namespace xq
