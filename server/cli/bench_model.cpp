#include "server/cli/bench_model.h"

#include <spdlog/spdlog.h>

#include <map>
#include <string>

#include "engine/common/error.h"
#include "engine/model/cpu_block_transcode.h"
#include "engine/model/model_loader.h"
#include "engine/model/synthetic_model.h"

namespace xq::cli {
namespace {

// --synthetic-weights: the names and the GGML types they give.
const std::map<std::string, GgmlType> kSyntheticWeights = {{"f32", GgmlType::kF32},
                                                           {"q8_0", GgmlType::kQ8_0},
                                                           {"q4_0", GgmlType::kQ4_0},
                                                           {"q4_k", GgmlType::kQ4_K},
                                                           {"q6_k", GgmlType::kQ6_K}};

GgmlType SyntheticWeightType(const std::string& name) {
  const auto it = kSyntheticWeights.find(name);
  if (it == kSyntheticWeights.end()) {
    throw Error("--synthetic-weights " + name + ": not one of f32, q8_0, q4_0, q4_k, q6_k");
  }
  return it->second;
}

}  // namespace

void AddBenchModelOptions(CLI::App* cmd, BenchModelOptions& options) {
  auto* model =
      cmd->add_option("--model,-m", options.model, "GGUF file or Hugging Face model directory");
  auto* synthetic = cmd->add_option(
      "--synthetic-model", options.synthetic_model,
      "A config.json (e.g. configs/synthetic/llama-3-8b.json): random weights of that shape");
  model->excludes(synthetic);
  synthetic->excludes(model);
  cmd->add_option("--synthetic-weights", options.synthetic_weights,
                  "The synthetic model's matrices: f32 (fp16 on a GPU), or GGML blocks as a "
                  "quantized GGUF holds them: q8_0, q4_0, q4_k, q6_k")
      ->check(CLI::IsMember(kSyntheticWeights));
}

Model LoadBenchModel(const BenchModelOptions& options, const LoadOptions& load) {
  if (options.model.empty() == options.synthetic_model.empty()) {
    throw Error("give --model or --synthetic-model");
  }
  if (options.model.empty()) {
    const GgmlType type = SyntheticWeightType(options.synthetic_weights);
    const bool on_device = load.synthetic_values_on_device && type == GgmlType::kF32;
    spdlog::info("synthetic model: random {} weights shaped by {}{}", options.synthetic_weights,
                 options.synthetic_model, on_device ? ", generated on the device" : "");
    Model model = MakeSyntheticModel(options.synthetic_model, /*seed=*/1, type,
                                     load.synthetic_values_on_device);
    if (load.keep_quantized && !load.keep_file_block_types) TranscodeModelForCpu(model);
    return model;
  }
  return LoadModel(options.model, load);
}

}  // namespace xq::cli
