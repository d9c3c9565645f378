#include "server/cli/device_option.h"

namespace xq::cli {

void AddDeviceOption(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device,
                  "Where the model runs: cpu, cuda, or auto (cuda when this binary has CUDA and "
                  "a GPU is usable)")
      ->capture_default_str();
}

}  // namespace xq::cli
