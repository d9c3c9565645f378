#include "server/http/transport/http_wire.h"

#include <strings.h>

#include <cstdio>

namespace xq {
namespace {

bool TransportOwned(std::string_view name) {
  for (std::string_view owned : {"Content-Length", "Transfer-Encoding", "Connection"}) {
    if (name.size() == owned.size() && ::strncasecmp(name.data(), owned.data(), name.size()) == 0) {
      return true;
    }
  }
  return false;
}

// RFC 9110: 1xx, 204 and 304 responses carry no body and no Content-Length.
bool Bodiless(int status) { return status < 200 || status == 204 || status == 304; }

}  // namespace

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string ResponseHead(const HttpResponse& res, BodyFraming framing, size_t content_length,
                         bool close, bool http11) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " ";
  out += ReasonPhrase(res.status);
  out += "\r\n";
  for (const auto& [name, value] : res.headers) {
    if (TransportOwned(name)) continue;
    out += name + ": " + value + "\r\n";
  }
  if (framing == BodyFraming::kChunked) {
    out += "Transfer-Encoding: chunked\r\n";
  } else if (framing == BodyFraming::kLength && !Bodiless(res.status)) {
    out += "Content-Length: " + std::to_string(content_length) + "\r\n";
  }
  if (close) {
    out += "Connection: close\r\n";
  } else if (!http11) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return out;
}

std::string Chunk(std::string_view data) {
  if (data.empty()) return {};
  char size[20];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out(size, static_cast<size_t>(n));
  out.append(data);
  out += "\r\n";
  return out;
}

}  // namespace xq
