#include "server/core/server_config.h"

#include <cmath>
#include <fstream>
#include <type_traits>

#include "engine/common/error.h"
#include "engine/kv/kv_budget.h"

namespace xq {
namespace {

template <class T>
void ReadField(const nlohmann::json& v, const std::string& where, T& out) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw Error(where + ": must be a string, got " + v.type_name());
    out = v.get<std::string>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) throw Error(where + ": must be a boolean, got " + v.type_name());
    out = v.get<bool>();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (!v.is_number_integer()) throw Error(where + ": must be an integer, got " + v.dump());
    out = v.get<int64_t>();
  } else {
    static_assert(std::is_same_v<T, double>);
    if (!v.is_number()) throw Error(where + ": must be a number, got " + v.type_name());
    out = v.get<double>();
  }
}

}  // namespace

ServerConfig ServerConfigFromJson(const nlohmann::json& j, const std::string& source,
                                  ServerConfig base) {
  if (!j.is_object()) throw Error(source + ": must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    ForEachConfigField(base, [&](const char* name, auto& member, const char*) {
      if (key != name) return;
      known = true;
      ReadField(value, source + ": " + key, member);
    });
    // A typo must not silently fall back to a default.
    if (!known) throw Error(source + ": unknown key \"" + key + "\"");
  }
  ValidateServerConfig(base, source);
  return base;
}

ServerConfig LoadServerConfig(const std::string& path, ServerConfig base) {
  std::ifstream file(path);
  if (!file) throw Error(path + ": cannot open the server config");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(file, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::exception& e) {  // also numbers beyond a double (1e999)
    throw Error(path + ": not valid JSON: " + e.what());
  }
  return ServerConfigFromJson(j, path, std::move(base));
}

nlohmann::json ServerConfigToJson(const ServerConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  ForEachConfigField(c,
                     [&](const char* name, const auto& member, const char*) { j[name] = member; });
  return j;
}

void ValidateServerConfig(const ServerConfig& c, const std::string& source) {
  auto fail = [&](const std::string& key, const std::string& why) {
    throw Error(source + ": " + key + ": " + why);
  };
  if (c.host.empty()) fail("host", "must not be empty");
  if (!c.tool_call_parser.empty() && c.tool_call_parser != "hermes" &&
      c.tool_call_parser != "llama3_json" && c.tool_call_parser != "mistral") {
    fail("tool_call_parser", "must be hermes, llama3_json or mistral");
  }
  if (c.port < 0 || c.port > 65535) fail("port", "must be in [0, 65535] (0: any free port)");
  if (c.grpc_port < 0 || c.grpc_port > 65535) fail("grpc_port", "must be in [0, 65535] (0: off)");
  if (c.max_num_seqs < 1) fail("max_num_seqs", "must be >= 1");
  if (c.max_num_batched_tokens < 1) fail("max_num_batched_tokens", "must be >= 1");
  if (c.target_itl_ms < 0 || c.target_itl_ms > 600000) {
    fail("target_itl_ms", "must be in [0, 600000] ms (0: off)");
  }
  if (c.max_waiting_requests < 1) fail("max_waiting_requests", "must be >= 1");
  if (c.max_model_len < 0) fail("max_model_len", "must be >= 0");
  if (c.threads < 0) fail("threads", "must be >= 0");
  if (!(c.gpu_memory_utilization >= 0 && c.gpu_memory_utilization <= 1)) {
    fail("gpu_memory_utilization", "must be in [0, 1] (0: off)");
  }
  if (c.gpu_memory_utilization > 0 && c.device == "cpu") {
    fail("gpu_memory_utilization", "needs device cuda (or auto on a GPU machine)");
  }
  if (c.device != "auto" && c.device != "cpu" && c.device != "cuda") {
    fail("device", "must be cpu, cuda or auto");
  }
  if (c.http_threads < 1 || c.http_threads > 4096) fail("http_threads", "must be in [1, 4096]");
  ParseByteSize(c.kv_cache_memory, source + ": kv_cache_memory");
  if (ParseByteSize(c.max_body_size, source + ": max_body_size") < 1) {
    fail("max_body_size", "must be at least 1 byte");
  }
  for (auto [key, v] : {std::pair{"read_timeout_s", c.read_timeout_s},
                        {"write_timeout_s", c.write_timeout_s},
                        {"keep_alive_timeout_s", c.keep_alive_timeout_s}}) {
    if (!(v > 0 && v <= 86400)) fail(key, "must be in (0, 86400]");
  }
  if (!(c.shutdown_timeout_s >= 0 && c.shutdown_timeout_s <= 86400)) {
    fail("shutdown_timeout_s", "must be in [0, 86400]");
  }
  if (c.retry_after_s < 0) fail("retry_after_s", "must be >= 0");
}

}  // namespace xq
