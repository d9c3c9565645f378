// `xquant health`: asks a running server's /health whether it is ready, for container
// HEALTHCHECKs and exec probes that should need nothing but the binary (no curl in the image).
// Exit 0 when ready; 1, with the reason on stderr, when loading, draining or unreachable.
#include <httplib.h>

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
  httplib::Client client(o.host, o.port);
  const auto timeout = std::chrono::duration<double>(o.timeout_s);
  client.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  const std::string where = "http://" + o.host + ":" + std::to_string(o.port) + "/health";
  const httplib::Result res = client.Get("/health");
  if (!res) throw Error(where + ": " + httplib::to_string(res.error()));
  if (res->status != 200) {
    throw Error(where + ": HTTP " + std::to_string(res->status) + " " + res->body);
  }
  std::cout << res->body << std::endl;
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
