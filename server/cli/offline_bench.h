// `xquant bench --offline`: throughput of the continuous-batching engine with N requests kept
// in flight (closed loop), printed as one JSON object.
#pragma once

#include <cstdint>
#include <string>

#include "server/cli/bench_model.h"

namespace xq::cli {

struct OfflineBenchOptions {
  BenchModelOptions model;
  std::string kv_profile = "fp16";
  std::string kv_memory = "1GiB";
  std::string device = "auto";
  bool enforce_eager = false;  // cuda: no CUDA graphs
  int threads = 0;
  int concurrency = 8;
  int prompt_tokens = 256;
  int output_tokens = 128;
  int requests = 0;  // 0: 2 * concurrency
  int max_num_batched_tokens = 512;
  int target_itl_ms = 1000;
  bool prefix_caching = false;
  int shared_prefix_tokens = 0;  // every prompt starts with the same tokens (a system prompt)
  bool json = false;
  // A JSON Schema file: every request's output is constrained to it (structured outputs).
  std::string json_schema;
};

void RunOfflineBench(const OfflineBenchOptions& options);

}  // namespace xq::cli
