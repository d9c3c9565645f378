// The bytes of an HTTP/1.1 response head and of a chunked body's framing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "server/http/transport/http_message.h"

namespace xq {

enum class BodyFraming {
  kLength,   // Content-Length: the body follows whole
  kChunked,  // Transfer-Encoding: chunked (HTTP/1.1 streams)
  kUntilClose,  // neither: the body ends when the connection does (streams to HTTP/1.0 clients)
};

// The status line and headers. The transport owns Content-Length, Transfer-Encoding and
// Connection: the response's own values for them are not written.
std::string ResponseHead(const HttpResponse& res, BodyFraming framing, size_t content_length,
                         bool close, bool http11);

// One chunk of a chunked body ("" would end the body, so it gives "").
std::string Chunk(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

std::string_view ReasonPhrase(int status);

}  // namespace xq
