// xquant: an LLM inference server with an XQuant-compressed KV cache. Entry point and
// subcommand dispatch; logs go to stderr so stdout carries only generated text or JSON.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "engine/common/error.h"
#include "server/cli/commands.h"

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("xquant"));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");

  CLI::App app{"xquant: LLM inference with an XQuant-compressed KV cache"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.parse_complete_callback([&] { spdlog::set_level(spdlog::level::from_str(log_level)); });
  xq::cli::AddGenerateCommand(app);
  xq::cli::AddBenchCommand(app);
  xq::cli::AddEvalCommand(app);
  xq::cli::AddServeCommand(app);
  xq::cli::AddTuneCommand(app);
  xq::cli::AddHealthCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const xq::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
