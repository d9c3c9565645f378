#include "server/http/transport/body_inflater.h"

#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace xq {
namespace {

// window_bits: 15 zlib, -15 raw deflate, 31 gzip.
std::string Deflate(const std::string& in, int window_bits) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Brotli(const std::string& in) {
  std::string out(BrotliEncoderMaxCompressedSize(in.size()), '\0');
  size_t size = out.size();
  EXPECT_TRUE(BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW,
                                    BROTLI_MODE_GENERIC, in.size(),
                                    reinterpret_cast<const uint8_t*>(in.data()), &size,
                                    reinterpret_cast<uint8_t*>(out.data())));
  out.resize(size);
  return out;
}

std::string RandomText(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 8);
  return s;
}

TEST(BodyInflater, EveryEncodingRoundTrips) {
  for (size_t size : {0u, 1u, 1000u, 300000u}) {
    const std::string text = RandomText(size, static_cast<uint32_t>(size));
    for (const auto& [encoding, data] :
         {std::pair<std::string, std::string>{"gzip", Deflate(text, 31)},
          {"x-gzip", Deflate(text, 31)},
          {"deflate", Deflate(text, 15)},
          {"deflate", Deflate(text, -15)},  // raw deflate, as some clients send it
          {"br", Brotli(text)},
          {"identity", text},
          {"", text}}) {
      const InflateResult r = InflateBody(encoding, data, 1 << 20);
      ASSERT_EQ(r.status, InflateStatus::kOk) << encoding << " " << size;
      EXPECT_EQ(r.body, text) << encoding << " " << size;
    }
  }
}

TEST(BodyInflater, StopsAtTheLimitNotAfterInflatingEverything) {
  const std::string bomb(50'000'000, 'a');
  for (const auto& [encoding, data] : {std::pair<std::string, std::string>{"gzip", Deflate(bomb, 31)},
                                       {"deflate", Deflate(bomb, 15)},
                                       {"br", Brotli(bomb)}}) {
    ASSERT_LT(data.size(), 100'000u) << encoding;
    EXPECT_EQ(InflateBody(encoding, data, 65536).status, InflateStatus::kTooLarge) << encoding;
  }
  EXPECT_EQ(InflateBody("identity", std::string(10, 'x'), 9).status, InflateStatus::kTooLarge);
  // Exactly at the limit is fine.
  const std::string text = RandomText(4096, 7);
  EXPECT_EQ(InflateBody("gzip", Deflate(text, 31), 4096).status, InflateStatus::kOk);
  EXPECT_EQ(InflateBody("gzip", Deflate(text, 31), 4095).status, InflateStatus::kTooLarge);
}

TEST(BodyInflater, TruncatedCorruptAndUnknownAreRefused) {
  const std::string text = RandomText(20000, 3);
  const std::string gz = Deflate(text, 31);
  EXPECT_EQ(InflateBody("gzip", gz.substr(0, gz.size() / 2), 1 << 20).status,
            InflateStatus::kInvalid);
  EXPECT_EQ(InflateBody("gzip", "not gzip at all", 1 << 20).status, InflateStatus::kInvalid);
  const std::string br = Brotli(text);
  EXPECT_EQ(InflateBody("br", br.substr(0, br.size() / 2), 1 << 20).status,
            InflateStatus::kInvalid);
  EXPECT_EQ(InflateBody("compress", gz, 1 << 20).status, InflateStatus::kUnsupported);
  EXPECT_EQ(InflateBody("gzip, br", gz, 1 << 20).status, InflateStatus::kUnsupported);
}

}  // namespace
}  // namespace xq
