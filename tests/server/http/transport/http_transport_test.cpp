// HttpTransport under concurrency, with a small application behind it: many keep-alive and
// pipelining clients at once, streams whose clients read to the end or leave, and Stop() while
// streams are running. CI also runs this under ThreadSanitizer (scripts/tsan.sh).
#include "server/http/transport/http_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace xq {
namespace {

// /echo returns the body; /stream?n=K sends K chunks; /slow-end-stream?n=K too, then its
// handler thread lingers in the stream's end callback; /health is quick.
class EchoApp : public HttpApplication {
 public:
  std::atomic<int> completed{0};
  std::atomic<int> streams_ended{0};

  bool OnHead(HttpRequest&, HttpResponse&) override { return false; }
  bool IsQuick(HttpRequest& req) override { return req.path == "/health"; }
  void Handle(HttpRequest& req, HttpResponse& res) override {
    if (req.path == "/echo" || req.path == "/health") {
      res.SetContent(req.path == "/health" ? "ok" : req.body, "text/plain");
      return;
    }
    if (req.path == "/stream" || req.path == "/slow-end-stream") {
      const int n = std::stoi(req.target.substr(req.target.find("n=") + 2));
      auto sent = std::make_shared<int>(0);
      res.Stream(
          "text/plain",
          [sent, n](ChunkSink& sink) {
            if (*sent == n) {
              sink.Done();
              return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            return sink.Write("chunk " + std::to_string((*sent)++) + "\n");
          },
          [this, slow_end = req.path == "/slow-end-stream"] {
            // The client has the whole body by now; the handler thread is still busy.
            if (slow_end) std::this_thread::sleep_for(std::chrono::milliseconds(300));
            ++streams_ended;
          });
      return;
    }
    res.status = 404;
  }
  void OnTransportError(int status, std::string_view message, const HttpRequest&,
                        HttpResponse& res) override {
    res.SetContent(std::string(message), "text/plain");
    res.status = status;
  }
  void OnComplete(const HttpRequest&, const HttpResponse&) override { ++completed; }
};

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Reads one response; returns its body ("" and status 0 when the connection ended first).
struct Reader {
  int fd;
  std::string buf;

  bool Fill() {
    char tmp[8192];
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  }
  std::pair<int, std::string> Next() {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return {0, ""};
    }
    const std::string head = buf.substr(0, head_end);
    buf.erase(0, head_end + 4);
    const int status = std::stoi(head.substr(9, 3));
    std::string body;
    if (head.find("Transfer-Encoding: chunked") != std::string::npos) {
      for (;;) {
        size_t eol;
        while ((eol = buf.find("\r\n")) == std::string::npos) {
          if (!Fill()) return {0, body};
        }
        const size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
        while (buf.size() < eol + 2 + size + 2) {
          if (!Fill()) return {0, body};
        }
        body += buf.substr(eol + 2, size);
        buf.erase(0, eol + 2 + size + 2);
        if (size == 0) return {status, body};
      }
    }
    const size_t at = head.find("Content-Length: ");
    const size_t length = at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
    while (buf.size() < length) {
      if (!Fill()) return {0, ""};
    }
    body = buf.substr(0, length);
    buf.erase(0, length);
    return {status, body};
  }
};

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TransportOptions Options() {
  TransportOptions o;
  o.handler_threads = 8;
  o.read_timeout_s = 5;
  o.keep_alive_timeout_s = 5;
  return o;
}

TEST(HttpTransport, ManyKeepAliveAndPipeliningClientsGetTheirOwnAnswers) {
  EchoApp app;
  HttpTransport transport(Options(), app);
  const int port = transport.Start();
  constexpr int kClients = 12, kRounds = 20;
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      Reader r{Connect(port), ""};
      for (int i = 0; i < kRounds; ++i) {
        // Three requests in one write: answered in order on the same connection.
        const std::string a = "c" + std::to_string(c) + "r" + std::to_string(i);
        SendAll(r.fd, Post("/echo", a + "x") + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" +
                          Post("/echo", a + "y"));
        if (r.Next() != std::pair<int, std::string>{200, a + "x"}) ++wrong;
        if (r.Next() != std::pair<int, std::string>{200, "ok"}) ++wrong;
        if (r.Next() != std::pair<int, std::string>{200, a + "y"}) ++wrong;
      }
      ::close(r.fd);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  transport.Stop();
  EXPECT_EQ(app.completed.load(), kClients * kRounds * 3);
}

TEST(HttpTransport, StreamsEndOnceWhetherClientsReadOrLeave) {
  EchoApp app;
  HttpTransport transport(Options(), app);
  const int port = transport.Start();
  constexpr int kStreams = 16, kChunks = 200;
  std::atomic<int> complete{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kStreams; ++c) {
    clients.emplace_back([&, c] {
      Reader r{Connect(port), ""};
      SendAll(r.fd, "GET /stream?n=" + std::to_string(kChunks) + " HTTP/1.1\r\nHost: x\r\n\r\n");
      if (c % 2 == 0) {
        auto [status, body] = r.Next();
        std::string expected;
        for (int i = 0; i < kChunks; ++i) expected += "chunk " + std::to_string(i) + "\n";
        if (status == 200 && body == expected) ++complete;
      } else {
        r.Fill();  // the first bytes, then leave mid-stream
      }
      ::close(r.fd);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(complete.load(), kStreams / 2);
  transport.Stop();
  EXPECT_EQ(app.streams_ended.load(), kStreams);
  EXPECT_EQ(app.completed.load(), kStreams);
}

// Stop begins while no socket operation is pending: the client has read the whole stream, the
// acceptor closes, and the handler thread still has to hand the session back to the I/O threads.
// They must still be there to finish the response (it was lost, and Stop waited 5 s).
TEST(HttpTransport, StopFinishesAStreamWhoseHandlerIsStillEnding) {
  EchoApp app;
  HttpTransport transport(Options(), app);
  const int port = transport.Start();
  Reader r{Connect(port), ""};
  SendAll(r.fd, "GET /slow-end-stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.Next(), (std::pair<int, std::string>{200, "chunk 0\nchunk 1\nchunk 2\n"}));
  ::close(r.fd);  // as a client that got its answer does
  const auto start = std::chrono::steady_clock::now();
  transport.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(app.streams_ended.load(), 1);
  EXPECT_EQ(app.completed.load(), 1);
}

TEST(HttpTransport, StopEndsRunningStreamsAndIdleConnections) {
  EchoApp app;
  HttpTransport transport(Options(), app);
  const int port = transport.Start();
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) {
    const int fd = Connect(port);
    SendAll(fd, "GET /stream?n=100000 HTTP/1.1\r\nHost: x\r\n\r\n");  // runs ~100 s
    fds.push_back(fd);
  }
  for (int i = 0; i < 20; ++i) fds.push_back(Connect(port));  // idle
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  transport.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(app.streams_ended.load(), 8);
  for (int fd : fds) ::close(fd);
}

}  // namespace
}  // namespace xq
