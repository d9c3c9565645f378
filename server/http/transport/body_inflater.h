// InflateBody: decodes a request body sent with Content-Encoding gzip, deflate or br, stopping
// as soon as the decoded size passes a limit, so a small compressed body cannot make the server
// inflate gigabytes (a 51 KB gzip body inflating to 50 MB once cost 86 s of CPU and 2.7 GB).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace xq {

enum class InflateStatus { kOk, kTooLarge, kInvalid, kUnsupported };

struct InflateResult {
  InflateStatus status = InflateStatus::kOk;
  std::string body;
};

// `encoding` is the Content-Encoding header ("" and "identity" pass the body through).
// "deflate" accepts zlib-wrapped data (the standard) and raw deflate (what some clients send).
InflateResult InflateBody(std::string_view encoding, std::string_view body, size_t limit);

}  // namespace xq
