#include "server/cli/bench_model.h"

#include <spdlog/spdlog.h>

#include "engine/common/error.h"
#include "engine/model/model_loader.h"
#include "engine/model/synthetic_model.h"

namespace xq::cli {

void AddBenchModelOptions(CLI::App* cmd, BenchModelOptions& options) {
  auto* model =
      cmd->add_option("--model,-m", options.model, "GGUF file or Hugging Face model directory");
  auto* synthetic = cmd->add_option(
      "--synthetic-model", options.synthetic_model,
      "A config.json (e.g. configs/synthetic/llama-3-8b.json): random weights of that shape");
  model->excludes(synthetic);
  synthetic->excludes(model);
}

Model LoadBenchModel(const BenchModelOptions& options) {
  if (options.model.empty() == options.synthetic_model.empty()) {
    throw Error("give --model or --synthetic-model");
  }
  if (options.model.empty()) {
    spdlog::info("synthetic model: random weights shaped by {}", options.synthetic_model);
    return MakeSyntheticModel(options.synthetic_model);
  }
  return LoadModel(options.model);
}

}  // namespace xq::cli
