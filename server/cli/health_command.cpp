// `xquant health`: asks a running server's /health whether it is ready, for container
// HEALTHCHECKs and exec probes that should need nothing but the binary (no curl in the image).
// Exit 0 when ready; 1, with the reason on stderr, when loading, draining or unreachable.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <iostream>
#include <memory>

#include "engine/common/error.h"
#include "server/cli/commands.h"

namespace xq::cli {
namespace {

struct HealthOptions {
  std::string host = "127.0.0.1";
  int port = 8000;
  double timeout_s = 5.0;
};

void CheckHealth(const HealthOptions& o) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  const std::string where = "http://" + o.host + ":" + std::to_string(o.port) + "/health";
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  // One deadline for connecting, sending and reading the answer.
  stream.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(o.timeout_s)));
  http::response<http::string_body> res;
  try {
    boost::asio::ip::tcp::resolver resolver(ioc);
    stream.connect(resolver.resolve(o.host, std::to_string(o.port)));
    http::request<http::empty_body> req(http::verb::get, "/health", 11);
    req.set(http::field::host, o.host);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::read(stream, buffer, res);
  } catch (const beast::system_error& e) {
    throw Error(where + ": " + e.code().message());
  }
  if (res.result_int() != 200) {
    throw Error(where + ": HTTP " + std::to_string(res.result_int()) + " " + res.body());
  }
  std::cout << res.body() << std::endl;
}

}  // namespace

void AddHealthCommand(CLI::App& app) {
  auto o = std::make_shared<HealthOptions>();
  CLI::App* cmd = app.add_subcommand(
      "health", "Exit 0 when the server at --host:--port is ready (for container health checks)");
  cmd->add_option("--host", o->host, "Server address")->capture_default_str();
  cmd->add_option("--port", o->port, "Server HTTP port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--timeout-s", o->timeout_s, "Connect and read timeout")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([o] { CheckHealth(*o); });
}

}  // namespace xq::cli
