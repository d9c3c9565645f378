#include "server/cli/kv_options.h"

#include <spdlog/spdlog.h>

#include "engine/kv/kv_accounting.h"
#include "engine/kv/kv_budget.h"
#include "engine/kv/kv_profile.h"

namespace xq::cli {

void AddKvMemoryOption(CLI::App* cmd, KvOptions& options) {
  cmd->add_option("--kv-cache-memory", options.memory,
                  "KV cache memory: compressed blocks plus the fp16 recent windows (e.g. 2GiB)")
      ->capture_default_str();
}

std::unique_ptr<KvBackend> MakeKvBackend(const Model& model, const std::string& profile_name,
                                         const std::string& memory, int64_t max_chunk_tokens,
                                         int64_t context_length, Device device,
                                         RunnerOptions runner_options) {
  const KvProfile profile = LoadKvProfile(profile_name);
  auto backend = std::make_unique<KvBackend>(
      xq::MakeKvBackend(model, profile, ParseByteSize(memory), max_chunk_tokens,
                        MakeModelRunner(model, device, runner_options)));
  const KvBlockLayout& layout = backend->plan.layout;
  spdlog::info("{}",
               DescribeKvAccounting(profile.name, layout, profile.recent_window, context_length));
  spdlog::info("KV cache: {} blocks of {} bytes in {} ({} pages per fp16 window block)",
               backend->plan.budget.num_blocks, layout.block_bytes, memory,
               layout.window_pages_per_block);
  return backend;
}

}  // namespace xq::cli
