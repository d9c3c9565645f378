// Server settings: JSON over defaults, strict about unknown keys and types (naming the file and
// the key), and configs/server.json really holds the built-in defaults.
#include "server/core/server_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/common/error.h"

namespace xq {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

std::string ErrorOf(const json& j) {
  try {
    ServerConfigFromJson(j, "conf.json");
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted " << j.dump();
  return "";
}

TEST(ServerConfig, JsonOverridesDefaults) {
  ServerConfig base;
  base.port = 1234;
  const ServerConfig c = ServerConfigFromJson({{"model", "m.gguf"},
                                               {"max_num_seqs", 8},
                                               {"prefix_caching", false},
                                               {"read_timeout_s", 2.5}},
                                              "x", base);
  EXPECT_EQ(c.model, "m.gguf");
  EXPECT_EQ(c.max_num_seqs, 8);
  EXPECT_FALSE(c.prefix_caching);
  EXPECT_DOUBLE_EQ(c.read_timeout_s, 2.5);
  EXPECT_EQ(c.port, 1234);  // untouched keys keep the base
  EXPECT_EQ(c.host, "127.0.0.1");
}

TEST(ServerConfig, ErrorsNameFileAndKey) {
  EXPECT_THAT(ErrorOf({{"prot", 80}}), HasSubstr("conf.json: unknown key \"prot\""));
  EXPECT_THAT(ErrorOf({{"port", "80"}}), HasSubstr("conf.json: port: must be an integer"));
  EXPECT_THAT(ErrorOf({{"port", 70000}}), HasSubstr("conf.json: port"));
  EXPECT_THAT(ErrorOf({{"host", ""}}), HasSubstr("host"));
  EXPECT_THAT(ErrorOf({{"max_num_seqs", 0}}), HasSubstr("max_num_seqs"));
  EXPECT_THAT(ErrorOf({{"kv_cache_memory", "lots"}}), HasSubstr("kv_cache_memory"));
  EXPECT_THAT(ErrorOf({{"max_body_size", "0"}}), HasSubstr("max_body_size"));
  EXPECT_THAT(ErrorOf({{"read_timeout_s", 0}}), HasSubstr("read_timeout_s"));
  EXPECT_THAT(ErrorOf({{"prefix_caching", 1}}), HasSubstr("prefix_caching: must be a boolean"));
  EXPECT_THAT(ErrorOf(json::array()), HasSubstr("conf.json: must be a JSON object"));
}

TEST(ServerConfig, ShippedDefaultsMatchTheBuiltIns) {
  const std::string path = std::string(XQ_SOURCE_DIR) + "/configs/server.json";
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  const json shipped = json::parse(file);
  const json builtin = ServerConfigToJson(ServerConfig{});
  for (const auto& [key, value] : shipped.items()) {
    ASSERT_TRUE(builtin.contains(key)) << key;
    EXPECT_EQ(value, builtin[key]) << key;
  }
  // Every setting is documented in the shipped file except the model, which has no default.
  for (const auto& [key, value] : builtin.items()) {
    if (key != "model") {
      EXPECT_TRUE(shipped.contains(key)) << key;
    }
  }
  EXPECT_NO_THROW(LoadServerConfig(path));
}

TEST(ServerConfig, LoadReportsMissingAndMalformedFiles) {
  EXPECT_THROW(LoadServerConfig("/nonexistent/server.json"), Error);
  const auto path = std::filesystem::temp_directory_path() / "xq_bad_server.json";
  std::ofstream(path) << "{\"port\": ";
  try {
    LoadServerConfig(path.string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr(path.string()));
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace xq
