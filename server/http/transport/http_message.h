// HttpRequest / HttpResponse: what a route handler sees of HTTP, independent of the transport
// that parsed the request and will write the answer (http_transport.h).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xq {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Header lookup ignores case, as HTTP does; "" when absent.
std::string_view FindHeader(const HttpHeaders& headers, std::string_view name);

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // the target without its query
  HttpHeaders headers;
  std::string body;  // decoded (inflated) before any route sees it
  std::string remote_addr;
  std::vector<std::string> matches;  // a pattern route's captures; [0] is the whole path
  // True once the client hung up (or half-closed: it can no longer be told apart). Set by the
  // transport; safe to call from the handler's thread while the request is being served.
  std::function<bool()> peer_closed = [] { return false; };

  bool HasHeader(std::string_view name) const { return !Header(name).empty(); }
  std::string Header(std::string_view name) const { return std::string(FindHeader(headers, name)); }
};

// Where a streamed response's chunks go. Write blocks while the client is slow to read
// (backpressure) and returns false once the client is gone; Done ends the body.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  virtual bool Write(std::string_view data) = 0;
  virtual void Done() = 0;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  // A streamed (chunked) body: `step` runs on the handler's thread after the handler returned,
  // again and again until it returns false or calls sink.Done(); `end` runs once afterwards,
  // whatever ended the stream.
  std::function<bool(ChunkSink&)> step;
  std::function<void()> end;

  void SetHeader(std::string_view name, std::string value);
  bool HasHeader(std::string_view name) const { return !FindHeader(headers, name).empty(); }
  std::string Header(std::string_view name) const { return std::string(FindHeader(headers, name)); }
  void SetContent(std::string content, std::string_view content_type);
  void Stream(std::string_view content_type, std::function<bool(ChunkSink&)> each_step,
              std::function<void()> on_end);
  bool streamed() const { return static_cast<bool>(step); }
};

}  // namespace xq
