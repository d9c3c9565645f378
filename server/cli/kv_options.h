// The KV-cache flags shared by subcommands (--kv-profile, --kv-cache-memory) and building a
// runner with its KV cache from them.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "engine/device/device.h"
#include "engine/model/model_weights.h"
#include "engine/step/kv_backend.h"

namespace xq::cli {

struct KvOptions {
  std::string profile = "fp16";
  std::string memory = "1GiB";
};

void AddKvMemoryOption(CLI::App* cmd, KvOptions& options);

// Builds the device's runner with the cache and logs its accounting (both bit counts, bytes per
// token) at `context_length`.
std::unique_ptr<KvBackend> MakeKvBackend(const Model& model, const std::string& profile,
                                         const std::string& memory, int64_t max_chunk_tokens,
                                         int64_t context_length, Device device,
                                         RunnerOptions runner_options = {});

}  // namespace xq::cli
