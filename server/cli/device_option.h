// --device for the subcommands that run the model (serve reads it from its config).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace xq::cli {

void AddDeviceOption(CLI::App* cmd, std::string& device);

}  // namespace xq::cli
