// Requests that would otherwise wait for a body until the read timeout (30 s): a POST with no
// length, and methods no route takes. Answered from the request head, before any body is read,
// with the connection closed (the unread body cannot be told apart from a next request). A
// malformed or oversized Content-Length never gets here: the transport's parser refuses it
// (400 / 413).
#pragma once

#include "server/http/transport/http_message.h"

namespace xq {

// True when `res` now holds the answer (411 or 405); false to route the request.
bool RejectBeforeBody(const HttpRequest& req, HttpResponse& res);

}  // namespace xq
