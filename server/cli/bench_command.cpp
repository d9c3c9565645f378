// `xquant bench`: batch-1 prefill and decode throughput on one model, printed as one JSON line
// with the same fields as bench/llamacpp_baseline.py so the two can be compared as a ratio.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "engine/model/model_loader.h"
#include "engine/sampling/sampler.h"
#include "engine/step/solo_sequence.h"
#include "server/cli/bench_model.h"
#include "server/cli/commands.h"
#include "server/cli/device_option.h"
#include "server/cli/kv_options.h"
#include "server/cli/offline_bench.h"

namespace xq::cli {
namespace {

struct BenchOptions {
  BenchModelOptions model;
  int threads = 0;
  int prefill_tokens = 512;
  int decode_tokens = 128;
  int repeats = 3;
  std::string kv_profile = "fp16";
  std::string kv_memory = "1GiB";
  std::string device = "auto";
  bool enforce_eager = false;
  bool cuda_core_prefill = false;
  bool fp16_weights = false;
};

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void RunBench(const BenchOptions& o) {
  SetThreads(o.threads);
  const Device device = ResolveDevice(o.device);  // before the model loads: fail fast
  Model model = LoadBenchModel(o.model, LoadOptionsFor(device));
  PrepareModelForDevice(model, device);
  const ModelConfig& c = model.config;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(c.vocab_size - 1));
  auto backend = MakeKvBackend(model, o.kv_profile, o.kv_memory, o.prefill_tokens,
                               o.prefill_tokens + o.decode_tokens, device,
                               {.cuda_graphs = !o.enforce_eager,
                                .tensor_core_prefill = !o.cuda_core_prefill,
                                .keep_quantized_weights = !o.fp16_weights});

  double best_prefill = 0, best_decode = 0;
  for (int rep = 0; rep < o.repeats; ++rep) {
    {
      SoloSequence seq(*backend->runner, *backend->kv);
      std::vector<int32_t> prompt;
      for (int i = 0; i < o.prefill_tokens; ++i) prompt.push_back(token(rng));
      const int64_t last[] = {o.prefill_tokens - 1};
      auto t0 = std::chrono::steady_clock::now();
      seq.Append(prompt, last);
      best_prefill =
          std::max(best_prefill, o.prefill_tokens / Seconds(t0, std::chrono::steady_clock::now()));
    }
    // Decode after a short prompt, as llama.cpp's baseline does.
    SoloSequence seq(*backend->runner, *backend->kv);
    const int32_t prompt[] = {token(rng), token(rng), token(rng), token(rng)};
    const int64_t last[] = {3};
    int32_t next = ArgMax(seq.Append(prompt, last));
    auto t1 = std::chrono::steady_clock::now();
    // Greedy tokens drawn where the logits are, as the engine's decode steps (on CUDA: one
    // graph launch and a token back per step).
    for (int i = 0; i < o.decode_tokens; ++i) next = seq.StepGreedy(next);
    best_decode =
        std::max(best_decode, o.decode_tokens / Seconds(t1, std::chrono::steady_clock::now()));
  }
  nlohmann::json out = {
      {"engine", "xquant"},
      {"device", DeviceName(device)},
      {"threads", o.threads},
      {"kv_profile", o.kv_profile},
      {"prefill_tokens", o.prefill_tokens},
      {"prefill_tps", best_prefill},
      {"decode_tokens", o.decode_tokens},
      {"decode_tps", best_decode},
      {"cuda_graphs", device == Device::kCuda && !o.enforce_eager},
      {"tensor_core_prefill", device == Device::kCuda && !o.cuda_core_prefill},
      {"quantized_weights_on_device", device == Device::kCuda && !o.fp16_weights}};
  if (!o.model.synthetic_model.empty()) out["synthetic_weights"] = o.model.synthetic_weights;
  std::printf("%s\n", out.dump().c_str());
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto opts = std::make_shared<BenchOptions>();
  auto offline = std::make_shared<OfflineBenchOptions>();
  auto is_offline = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Batch-1 prefill and decode throughput, or with --offline the engine's throughput "
      "with N requests in flight (JSON)");
  cmd->add_flag("--offline", *is_offline,
                "Engine benchmark: keep --concurrency requests of --prompt-tokens / "
                "--output-tokens in flight until --requests have finished");
  cmd->add_option("--concurrency", offline->concurrency, "(--offline) requests in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--prompt-tokens", offline->prompt_tokens, "(--offline) prompt length")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--output-tokens", offline->output_tokens, "(--offline) tokens per request")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--requests", offline->requests,
                  "(--offline) total requests (0 = 2 x concurrency)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-num-batched-tokens", offline->max_num_batched_tokens,
                  "(--offline) tokens per engine step")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--target-itl-ms", offline->target_itl_ms,
                  "(--offline) prefill chunks shrink while streams decode to keep steps near this "
                  "many ms (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0, 600000));
  cmd->add_flag("--prefix-caching", offline->prefix_caching, "(--offline) enable prefix caching");
  cmd->add_option("--shared-prefix-tokens", offline->shared_prefix_tokens,
                  "(--offline) leading prompt tokens every request shares (a system prompt)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", offline->json, "(--offline) one JSON line instead of indented JSON");
  cmd->add_option("--json-schema", offline->json_schema,
                  "(--offline) constrain every output to this JSON Schema file");
  AddBenchModelOptions(cmd, opts->model);
  cmd->add_option("--threads,-t", opts->threads, "Threads (0 = all cores)")->capture_default_str();
  AddDeviceOption(cmd, opts->device);
  cmd->add_flag("--enforce-eager", opts->enforce_eager,
                "cuda: launch every kernel from the host (no CUDA graphs), to measure what they "
                "save");
  cmd->add_flag("--cuda-core-prefill", opts->cuda_core_prefill,
                "cuda: prefill attention on CUDA cores instead of tensor cores, to measure what "
                "they save");
  cmd->add_flag("--fp16-weights", opts->fp16_weights,
                "cuda: turn GGUF Q4_0/Q4_1/Q8_0 matrices into fp16 at load instead of keeping "
                "their blocks, to measure the quantized GEMV");
  cmd->add_option("--prefill-tokens", opts->prefill_tokens)
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--decode-tokens", opts->decode_tokens)
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--repeats", opts->repeats, "Best of N")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--kv-profile", opts->kv_profile, "KV precision profile")->capture_default_str();
  cmd->add_option("--kv-cache-memory", opts->kv_memory)->capture_default_str();
  cmd->callback([opts, offline, is_offline] {
    if (!*is_offline) return RunBench(*opts);
    offline->model = opts->model;
    offline->threads = opts->threads;
    offline->kv_profile = opts->kv_profile;
    offline->kv_memory = opts->kv_memory;
    offline->device = opts->device;
    offline->enforce_eager = opts->enforce_eager;
    RunOfflineBench(*offline);
  });
}

}  // namespace xq::cli
