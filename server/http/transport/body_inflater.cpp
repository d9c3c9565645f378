#include "server/http/transport/body_inflater.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <array>
#include <memory>

namespace xq {
namespace {

constexpr size_t kStep = 64 * 1024;

bool LooksZlibWrapped(std::string_view body) {
  if (body.size() < 2) return false;
  const auto b0 = static_cast<unsigned char>(body[0]);
  const auto b1 = static_cast<unsigned char>(body[1]);
  return (b0 & 0x0f) == 8 && (b0 * 256 + b1) % 31 == 0;
}

InflateResult Zlib(std::string_view body, int window_bits, size_t limit) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return {InflateStatus::kInvalid, {}};
  std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&z, &inflateEnd);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  InflateResult out;
  std::array<char, kStep> buf;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = static_cast<uInt>(buf.size());
    const int rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) return {InflateStatus::kInvalid, {}};
    const size_t produced = buf.size() - z.avail_out;
    if (out.body.size() + produced > limit) return {InflateStatus::kTooLarge, {}};
    out.body.append(buf.data(), produced);
    if (rc == Z_STREAM_END) return out;
    // Input used up without the stream's end: the body was cut short.
    if (z.avail_in == 0 && produced == 0) return {InflateStatus::kInvalid, {}};
  }
}

InflateResult Brotli(std::string_view body, size_t limit) {
  std::unique_ptr<BrotliDecoderState, decltype(&BrotliDecoderDestroyInstance)> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), &BrotliDecoderDestroyInstance);
  if (!state) return {InflateStatus::kInvalid, {}};
  auto next_in = reinterpret_cast<const uint8_t*>(body.data());
  size_t avail_in = body.size();
  InflateResult out;
  std::array<uint8_t, kStep> buf;
  for (;;) {
    uint8_t* next_out = buf.data();
    size_t avail_out = buf.size();
    const BrotliDecoderResult rc = BrotliDecoderDecompressStream(
        state.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
    const size_t produced = buf.size() - avail_out;
    if (out.body.size() + produced > limit) return {InflateStatus::kTooLarge, {}};
    out.body.append(reinterpret_cast<const char*>(buf.data()), produced);
    if (rc == BROTLI_DECODER_RESULT_SUCCESS) return out;
    if (rc != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) return {InflateStatus::kInvalid, {}};
  }
}

}  // namespace

InflateResult InflateBody(std::string_view encoding, std::string_view body, size_t limit) {
  if (encoding.empty() || encoding == "identity") {
    if (body.size() > limit) return {InflateStatus::kTooLarge, {}};
    return {InflateStatus::kOk, std::string(body)};
  }
  if (encoding == "gzip" || encoding == "x-gzip") return Zlib(body, 16 + MAX_WBITS, limit);
  if (encoding == "deflate") return Zlib(body, LooksZlibWrapped(body) ? MAX_WBITS : -MAX_WBITS, limit);
  if (encoding == "br") return Brotli(body, limit);
  return {InflateStatus::kUnsupported, {}};
}

}  // namespace xq
