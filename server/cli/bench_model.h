// The model a benchmark runs: a model file (--model) or random weights in a config's shape
// (--synthetic-model, engine/model/synthetic_model.h, in --synthetic-weights), exactly one of
// them.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "engine/model/model_loader.h"
#include "engine/model/model_weights.h"

namespace xq::cli {

struct BenchModelOptions {
  std::string model;
  std::string synthetic_model;
  std::string synthetic_weights = "f32";  // f32, q8_0, q4_0, q4_k or q6_k
};

void AddBenchModelOptions(CLI::App* cmd, BenchModelOptions& options);
Model LoadBenchModel(const BenchModelOptions& options, const LoadOptions& load = {});

}  // namespace xq::cli
