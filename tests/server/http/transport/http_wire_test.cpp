#include "server/http/transport/http_wire.h"

#include <gtest/gtest.h>

namespace xq {
namespace {

TEST(HttpWire, WholeBodyHead) {
  HttpResponse res;
  res.SetContent("{}", "application/json");
  res.SetHeader("X-Request-Id", "abc");
  res.SetHeader("Connection", "close");      // the transport decides
  res.SetHeader("Content-Length", "999");    // and counts
  EXPECT_EQ(ResponseHead(res, BodyFraming::kLength, 2, false, true),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: abc\r\n"
            "Content-Length: 2\r\n\r\n");
  EXPECT_EQ(ResponseHead(res, BodyFraming::kLength, 2, true, true),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: abc\r\n"
            "Content-Length: 2\r\nConnection: close\r\n\r\n");
  // An HTTP/1.0 client is told the connection stays open.
  EXPECT_NE(ResponseHead(res, BodyFraming::kLength, 2, false, false).find("Connection: keep-alive"),
            std::string::npos);
}

TEST(HttpWire, StreamsAndBodilessStatuses) {
  HttpResponse res;
  res.status = 204;
  EXPECT_EQ(ResponseHead(res, BodyFraming::kLength, 0, false, true), "HTTP/1.1 204 No Content\r\n\r\n");
  res.status = 200;
  EXPECT_EQ(ResponseHead(res, BodyFraming::kChunked, 0, false, true),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(ResponseHead(res, BodyFraming::kUntilClose, 0, true, false),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
  res.status = 499;
  EXPECT_EQ(ResponseHead(res, BodyFraming::kLength, 0, true, true).substr(0, 36),
            "HTTP/1.1 499 Client Closed Request\r\n");
}

TEST(HttpWire, Chunks) {
  EXPECT_EQ(Chunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(Chunk(std::string(300, 'x')).substr(0, 5), "12c\r\n");
  EXPECT_EQ(Chunk(""), "");  // an empty chunk would end the body
}

TEST(HttpMessage, HeadersIgnoreCase) {
  HttpRequest req;
  req.headers = {{"content-TYPE", "a"}, {"X-Other", "b"}};
  EXPECT_EQ(req.Header("Content-Type"), "a");
  EXPECT_TRUE(req.HasHeader("x-other"));
  EXPECT_FALSE(req.HasHeader("Missing"));
  HttpResponse res;
  res.SetHeader("x-a", "1");
  res.SetHeader("X-A", "2");
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.Header("x-a"), "2");
}

}  // namespace
}  // namespace xq
