#include "server/http/transport/http_transport.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/common/error.h"
#include "server/http/transport/handler_pool.h"
#include "server/http/transport/http_wire.h"
#include "server/http/transport/socket_peer.h"

namespace xq {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kHeaderLimit = 32 * 1024;
constexpr size_t kTargetLimit = 8192;
// A stream's handler blocks once this much is queued for a client that reads slowly.
constexpr size_t kHighWater = 256 * 1024;
// After an early reply (413 before the body), read and drop what the client still sends for a
// while before closing: closing with unread input makes the kernel send a reset, which can
// destroy the reply before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1 << 20;

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

// Lets as many connections be open as the process is allowed (the soft limit is often 1024).
void RaiseOpenFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

class Session;

}  // namespace

class HttpTransport::Impl {
 public:
  Impl(TransportOptions o, HttpApplication& a)
      : options(std::move(o)),
        app(a),
        acceptor_(net::make_strand(ioc_)),
        retry_timer_(acceptor_.get_executor()) {}

  int Start();
  void Stop();

  void Register(const std::shared_ptr<Session>& s);
  void Unregister(Session* s);
  void Post(std::function<void()> task) { pool_->Post(std::move(task)); }
  bool stopping() const { return stopping_.load(); }

  const TransportOptions options;
  HttpApplication& app;

 private:
  void Accept();

  // Declared before the io_context: sessions still queued in it unregister when it is destroyed.
  std::mutex sessions_mutex_;
  std::condition_variable sessions_gone_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::atomic<bool> stopping_{false};
  net::io_context ioc_;
  // Keeps the I/O threads running while no socket operation is pending: once Stop closes the
  // acceptor, a stream whose handler thread has not yet finished may be the only thing left, and
  // without this guard run() would return and the handler's last post (Complete) never run.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;  // and the retry timer: on one strand
  net::steady_timer retry_timer_;
  std::unique_ptr<HandlerPool> pool_;
  std::vector<std::thread> io_threads_;
};

namespace {

// One connection: reads requests one after another (pipelined ones wait in the buffer), hands
// each to the application, writes the answer, then reads the next or closes. All socket work
// runs on the connection's strand; handler threads only queue bytes in the outbox.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpTransport::Impl& transport)
      : stream_(std::move(socket)), t_(transport) {}
  ~Session() { t_.Unregister(this); }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHead(); });
  }

  // On Stop: a connection waiting for a request is closed; one being served finishes first.
  void CloseIfIdle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == Phase::kWaitingForHead) beast::get_lowest_layer(self->stream_).cancel();
    });
  }

  // On Stop, once the I/O threads are gone: handlers blocked on a full outbox give up, and a
  // handler waiting on the engine sees its client as gone.
  void Abandon() {
    abandoned_ = true;
    std::lock_guard lock(mutex_);
    failed_ = true;
    room_.notify_all();
  }

  bool Enqueue(std::string bytes, bool wait_for_room);

 private:
  // Stop closes connections waiting for a head (idle ones, slow ones); the others finish first.
  enum class Phase { kWaitingForHead, kReadingBody, kServing, kClosed };

  void ReadHead();
  void OnHead(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void FillHead();
  void Refuse(int status, std::string_view message);
  void TimedOut(std::string_view message);
  void Dispatch();
  void Serve();
  void StreamBody();
  void WriteWhole();
  void FinishResponse();
  void WriteNext();
  void OnWrite(beast::error_code ec, size_t bytes);
  void Complete();
  void LingerClose();
  void Drain(size_t drained);
  void Close();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpTransport::Impl& t_;
  HttpRequest req_;
  HttpResponse res_;
  Phase phase_ = Phase::kWaitingForHead;  // strand only
  // The head and the body must both arrive by this instant (set when a request's wait starts).
  std::chrono::steady_clock::time_point request_deadline_;
  bool quick_ = false;  // the route runs on the strand
  std::atomic<bool> abandoned_{false};
  bool first_ = true;
  bool keep_alive_ = false;
  bool http11_ = true;
  bool close_after_ = false;

  // The outbox, shared by the strand and the handler thread.
  std::mutex mutex_;
  std::condition_variable room_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool failed_ = false;  // the client is gone (a write failed or timed out)
  bool ending_ = false;  // the response is all queued
};

// A streamed body's chunks go into the session's outbox.
class SessionSink : public ChunkSink {
 public:
  SessionSink(Session& s, bool chunked) : session_(s), chunked_(chunked) {}
  bool Write(std::string_view data) override {
    if (data.empty()) return true;
    return session_.Enqueue(chunked_ ? Chunk(data) : std::string(data), true);
  }
  void Done() override { done_ = true; }
  bool done() const { return done_; }

 private:
  Session& session_;
  bool chunked_;
  bool done_ = false;
};

void Session::ReadHead() {
  phase_ = Phase::kWaitingForHead;
  req_ = HttpRequest{};
  res_ = HttpResponse{};
  close_after_ = false;
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(t_.options.max_body_bytes);
  // One deadline for the head and the body together (not per read); a follow-up on a kept-alive
  // connection must also complete its head within the keep-alive timeout.
  const auto now = std::chrono::steady_clock::now();
  request_deadline_ = now + Seconds(t_.options.read_timeout_s);
  stream_.expires_at(first_ ? request_deadline_
                            : std::min(request_deadline_,
                                       now + Seconds(t_.options.keep_alive_timeout_s)));
  if (t_.stopping()) return Close();
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            self->OnHead(ec);
                          });
}

void Session::OnHead(beast::error_code ec) {
  if (ec) {
    const bool nothing_sent = !parser_->got_some() && buffer_.size() == 0;
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        (ec == beast::error::timeout && nothing_sent)) {
      return Close();  // an idle connection ended: nothing to answer
    }
    if (ec == beast::error::timeout) return TimedOut("the request head was not received in time");
    if (ec == http::error::body_limit) {
      return Refuse(413, "the request body is larger than the server accepts (" +
                             std::to_string(t_.options.max_body_bytes) + " bytes)");
    }
    if (ec == http::error::header_limit) {
      const auto data = static_cast<const char*>(buffer_.data().data());
      const std::string_view head(data, buffer_.size());
      const size_t eol = head.find("\r\n");
      if (eol == std::string_view::npos || eol > kTargetLimit) {
        return Refuse(414, "the request URI is too long");
      }
      return Refuse(431, "the request header fields are too large");
    }
    return Refuse(400, "malformed HTTP request");
  }
  FillHead();
  if (req_.target.size() > kTargetLimit) return Refuse(414, "the request URI is too long");
  if (t_.app.OnHead(req_, res_)) {
    phase_ = Phase::kServing;
    close_after_ = true;  // a body that may follow stays unread
    return WriteWhole();
  }
  const auto& head = parser_->get();
  if (!parser_->is_done() && beast::iequals(head[http::field::expect], "100-continue")) {
    Enqueue("HTTP/1.1 100 Continue\r\n\r\n", false);
  }
  if (parser_->is_done()) return Dispatch();
  phase_ = Phase::kReadingBody;
  ReadBody();
}

void Session::FillHead() {
  const auto& head = parser_->get();
  req_.method = std::string(head.method_string());
  req_.target = std::string(head.target());
  req_.path = req_.target.substr(0, req_.target.find('?'));
  for (const auto& field : head) {
    req_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  beast::error_code ec;
  req_.remote_addr = stream_.socket().remote_endpoint(ec).address().to_string();
  http11_ = head.version() >= 11;
  keep_alive_ = head.keep_alive();
}

void Session::ReadBody() {
  stream_.expires_at(request_deadline_);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     self->OnBody(ec);
                   });
}

void Session::OnBody(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    return Refuse(413, "the request body is larger than the server accepts (" +
                           std::to_string(t_.options.max_body_bytes) + " bytes)");
  }
  if (ec == beast::error::timeout) return TimedOut("the request body was not received in time");
  if (ec) return Refuse(400, "the request body could not be read (" + ec.message() + ")");
  req_.body = std::move(parser_->get().body());
  Dispatch();
}

// Answers a request the transport could not take; the connection closes after the reply.
void Session::Refuse(int status, std::string_view message) {
  phase_ = Phase::kServing;
  res_.status = status;
  t_.app.OnTransportError(status, message, req_, res_);
  close_after_ = true;
  WriteWhole();
}

// Beast's timeout has closed the socket already, so no 408 can be sent: the request is logged
// as one and the connection ends.
void Session::TimedOut(std::string_view message) {
  res_.status = 408;
  t_.app.OnTransportError(408, message, req_, res_);
  t_.app.OnComplete(req_, res_);
  Close();
}

void Session::Dispatch() {
  phase_ = Phase::kServing;
  stream_.expires_never();
  req_.peer_closed = [this, fd = stream_.socket().native_handle()] {
    return abandoned_.load() || SocketPeerClosed(fd);
  };
  quick_ = t_.app.IsQuick(req_);
  if (quick_) return Serve();
  t_.Post([self = shared_from_this()] { self->Serve(); });
}

void Session::Serve() {
  try {
    t_.app.Handle(req_, res_);
  } catch (const std::exception& e) {
    // The application turns its own failures into responses; this is the last resort.
    spdlog::error("{} {}: unhandled: {}", req_.method, req_.path, e.what());
    res_.step = nullptr;  // keeps the headers (the request id) for the access log
    res_.end = nullptr;
    t_.app.OnTransportError(500, "internal error", req_, res_);
  }
  if (beast::iequals(res_.Header("Connection"), "close")) close_after_ = true;
  if (!res_.streamed()) return WriteWhole();
  // A stream blocks its thread while the client lags: never on the strand that drains it.
  if (quick_) return t_.Post([self = shared_from_this()] { self->StreamBody(); });
  StreamBody();
}

void Session::WriteWhole() {
  const bool close = close_after_ || !keep_alive_ || t_.stopping();
  const bool bodiless = req_.method == "HEAD" || res_.status == 204 || res_.status == 304;
  std::string bytes = ResponseHead(res_, BodyFraming::kLength, res_.body.size(), close, http11_);
  if (!bodiless) bytes += res_.body;
  Enqueue(std::move(bytes), false);
  FinishResponse();
}

// Runs the route's stream on this (handler) thread; Write blocks while the client lags.
void Session::StreamBody() {
  const bool chunked = http11_;
  if (!chunked) close_after_ = true;  // an HTTP/1.0 client reads the body until we close
  Enqueue(ResponseHead(res_, chunked ? BodyFraming::kChunked : BodyFraming::kUntilClose,
                       0, close_after_, http11_),
          false);
  SessionSink sink(*this, chunked);
  try {
    while (!sink.done() && res_.step(sink)) {
    }
  } catch (const std::exception& e) {
    spdlog::error("{} {}: stream failed: {}", req_.method, req_.path, e.what());
  }
  if (!sink.done()) {
    close_after_ = true;  // cut short: the body is incomplete, the connection is unusable
  } else if (chunked) {
    Enqueue(std::string(kLastChunk), false);
  }
  try {
    if (res_.end) res_.end();
  } catch (const std::exception& e) {
    spdlog::error("{} {}: stream end failed: {}", req_.method, req_.path, e.what());
  }
  FinishResponse();
}

bool Session::Enqueue(std::string bytes, bool wait_for_room) {
  std::unique_lock lock(mutex_);
  if (failed_) return false;
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  if (!writing_) {
    writing_ = true;
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->WriteNext(); });
  }
  if (wait_for_room) {
    room_.wait(lock, [this] { return failed_ || queued_bytes_ <= kHighWater; });
  }
  return !failed_;
}

void Session::FinishResponse() {
  {
    std::lock_guard lock(mutex_);
    ending_ = true;
    if (writing_) return;  // OnWrite completes once the outbox is empty
  }
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->Complete(); });
}

void Session::WriteNext() {
  auto out = std::make_shared<std::string>();
  {
    std::lock_guard lock(mutex_);
    for (auto& piece : queue_) *out += piece;
    queue_.clear();
  }
  stream_.expires_after(Seconds(t_.options.write_timeout_s));
  net::async_write(stream_, net::buffer(*out),
                   [self = shared_from_this(), out](beast::error_code ec, size_t bytes) {
                     self->OnWrite(ec, bytes);
                   });
}

void Session::OnWrite(beast::error_code ec, size_t bytes) {
  bool more = false;
  bool complete = false;
  {
    std::lock_guard lock(mutex_);
    if (ec) {
      failed_ = true;
      queue_.clear();
      queued_bytes_ = 0;
    } else {
      queued_bytes_ -= bytes;
    }
    room_.notify_all();
    more = !failed_ && !queue_.empty();
    if (!more) {
      writing_ = false;
      complete = ending_;
    }
  }
  if (more) return WriteNext();
  if (complete) Complete();
}

// The response is written (or the client is gone): log it, then the next request or close.
void Session::Complete() {
  stream_.expires_never();
  t_.app.OnComplete(req_, res_);
  bool failed;
  {
    std::lock_guard lock(mutex_);
    ending_ = false;
    failed = failed_;
  }
  const bool reuse = keep_alive_ && !close_after_ && !failed && !t_.stopping();
  first_ = false;
  if (reuse) return ReadHead();
  if (failed) return Close();
  LingerClose();
}

void Session::LingerClose() {
  phase_ = Phase::kClosed;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  stream_.expires_after(kLingerTime);
  Drain(0);
}

void Session::Drain(size_t drained) {
  auto scratch = std::make_shared<std::array<char, 8192>>();
  stream_.async_read_some(net::buffer(*scratch), [self = shared_from_this(), scratch, drained](
                                                     beast::error_code ec, size_t n) {
    if (ec || drained + n > kLingerBytes) return self->Close();
    self->Drain(drained + n);
  });
}

void Session::Close() {
  phase_ = Phase::kClosed;
  beast::error_code ec;
  stream_.socket().close(ec);
}

}  // namespace

int HttpTransport::Impl::Start() {
  RaiseOpenFileLimit();
  beast::error_code ec;
  const auto address = net::ip::make_address(options.host, ec);
  if (ec) throw Error("host: '" + options.host + "' is not an IP address of this machine");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  const std::string where = options.host + ":" + std::to_string(options.port);
  acceptor_.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: with SO_REUSEPORT a second server on the same port would start and the
  // kernel would split connections between the two.
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error("port: cannot bind " + where + ": " +
                (ec == net::error::address_in_use ? std::string("address in use") : ec.message()));
  }
  const int port = acceptor_.local_endpoint().port();
  pool_ = std::make_unique<HandlerPool>(options.handler_threads);
  Accept();
  work_.emplace(ioc_.get_executor());
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    io_threads_.emplace_back([this] { ioc_.run(); });
  }
  return port;
}

void HttpTransport::Impl::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors or memory: back off instead of spinning on the error.
      spdlog::warn("http: accept failed: {}", ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([this](beast::error_code) { Accept(); });
      return;
    }
    beast::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    auto session = std::make_shared<Session>(std::move(socket), *this);
    Register(session);
    session->Start();
    Accept();
  });
}

void HttpTransport::Impl::Register(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(sessions_mutex_);
  sessions_[s.get()] = s;
}

void HttpTransport::Impl::Unregister(Session* s) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(s);
  if (sessions_.empty()) sessions_gone_.notify_all();
}

void HttpTransport::Impl::Stop() {
  if (io_threads_.empty() || stopping_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    retry_timer_.cancel();
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->CloseIfIdle();
  live.clear();
  {
    // Requests being served finish and their connections close (lingering at most 2 s).
    std::unique_lock lock(sessions_mutex_);
    sessions_gone_.wait_for(lock, std::chrono::seconds(5), [this] { return sessions_.empty(); });
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  work_.reset();
  ioc_.stop();
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
  for (auto& s : live) s->Abandon();
  live.clear();
  pool_.reset();  // joins the handlers, which now see every client as gone
}

HttpTransport::HttpTransport(TransportOptions options, HttpApplication& app)
    : impl_(std::make_unique<Impl>(std::move(options), app)) {}

HttpTransport::~HttpTransport() { Stop(); }

int HttpTransport::Start() { return impl_->Start(); }

void HttpTransport::Stop() { impl_->Stop(); }

}  // namespace xq
