// HttpTransport: HTTP/1.1 on Boost.Beast / Asio. A few I/O threads hold every connection, idle or
// slow, without a thread each; route handlers run on a HandlerPool. Per connection: a deadline
// for the whole request head and body (not per read), keep-alive with an idle limit, pipelined
// requests answered in order, a request answered even after the client half-closed, streamed
// bodies with backpressure, and a lingering close so an early error reply is not lost to a reset.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "server/http/transport/http_message.h"

namespace xq {

struct TransportOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  double read_timeout_s = 30;  // for a request's head and body together
  double write_timeout_s = 30;  // for each write to the client
  double keep_alive_timeout_s = 5;  // an idle connection between requests
  size_t max_body_bytes = 16 << 20;  // as sent (before any Content-Encoding is undone)
  size_t handler_threads = 128;
  int io_threads = 2;
};

// The server behind the transport. OnHead and OnTransportError run on I/O threads and must not
// block; Handle runs on a handler thread unless IsQuick says it may run on an I/O thread.
class HttpApplication {
 public:
  virtual ~HttpApplication() = default;
  // Sees the head before the body is read; true when it answered already (res filled).
  virtual bool OnHead(HttpRequest& req, HttpResponse& res) = 0;
  virtual bool IsQuick(HttpRequest& req) = 0;
  virtual void Handle(HttpRequest& req, HttpResponse& res) = 0;
  // Fills res for a request the transport refused (malformed, too large, too slow); req holds
  // what was parsed of it, res what OnHead set.
  virtual void OnTransportError(int status, std::string_view message, const HttpRequest& req,
                                HttpResponse& res) = 0;
  // After the response was written (or abandoned: the client left).
  virtual void OnComplete(const HttpRequest& req, const HttpResponse& res) = 0;
};

class HttpTransport {
 public:
  HttpTransport(TransportOptions options, HttpApplication& app);
  ~HttpTransport();  // stops
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Binds exclusively (no SO_REUSEPORT: a second server on the port must fail) and starts
  // serving. Returns the port; throws xq::Error naming host and port when binding fails.
  int Start();
  // Stops accepting, closes idle connections, lets requests being served finish, then joins.
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace xq
