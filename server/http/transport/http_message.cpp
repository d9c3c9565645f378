#include "server/http/transport/http_message.h"

#include <strings.h>

namespace xq {
namespace {

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string_view FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return value;
  }
  return {};
}

void HttpResponse::SetHeader(std::string_view name, std::string value) {
  for (auto& [key, existing] : headers) {
    if (SameName(key, name)) {
      existing = std::move(value);
      return;
    }
  }
  headers.emplace_back(name, std::move(value));
}

void HttpResponse::SetContent(std::string content, std::string_view content_type) {
  body = std::move(content);
  SetHeader("Content-Type", std::string(content_type));
}

void HttpResponse::Stream(std::string_view content_type, std::function<bool(ChunkSink&)> each_step,
                          std::function<void()> on_end) {
  SetHeader("Content-Type", std::string(content_type));
  step = std::move(each_step);
  end = std::move(on_end);
}

}  // namespace xq
