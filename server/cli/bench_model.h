// The model a benchmark runs: a model file (--model) or random weights in a config's shape
// (--synthetic-model, engine/model/synthetic_model.h), exactly one of them.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "engine/model/model_weights.h"

namespace xq::cli {

struct BenchModelOptions {
  std::string model;
  std::string synthetic_model;
};

void AddBenchModelOptions(CLI::App* cmd, BenchModelOptions& options);
Model LoadBenchModel(const BenchModelOptions& options);

}  // namespace xq::cli
