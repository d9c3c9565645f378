// `xquant serve`: the OpenAI-compatible HTTP server and the gRPC service. Settings come from
// configs/server.json-style files (--config) with flags of the same names overriding them;
// SIGTERM/SIGINT drain and exit 0.
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>

#include "engine/engine.h"
#include "engine/kv/kv_budget.h"
#include "engine/model/model_loader.h"
#include "engine/runner/gpu_memory.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/commands.h"
#include "server/core/prompt_builder.h"
#include "server/core/server_config.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"

namespace xq::cli {
namespace {

struct ServeOptions {
  std::string config_file;
  ServerConfig flags;                           // values given on the command line
  std::map<std::string, CLI::Option*> options;  // config key -> its flag
};

std::string FlagName(const std::string& key) {
  std::string flag = "--" + key;
  for (char& c : flag) {
    if (c == '_') c = '-';
  }
  return flag;
}

ServerConfig ResolveConfig(const ServeOptions& o) {
  ServerConfig config;
  if (!o.config_file.empty()) config = LoadServerConfig(o.config_file);
  nlohmann::json overrides = nlohmann::json::object();
  const nlohmann::json given = ServerConfigToJson(o.flags);
  for (const auto& [key, option] : o.options) {
    if (option->count() > 0) overrides[key] = given[key];
  }
  config = ServerConfigFromJson(overrides, "command line", config);
  if (config.model.empty()) throw Error("--model: required (or \"model\" in the config file)");
  if (config.served_model_name.empty()) {
    std::filesystem::path path(config.model);
    if (!path.has_filename()) path = path.parent_path();
    config.served_model_name =
        path.extension() == ".gguf" ? path.stem().string() : path.filename().string();
  }
  return config;
}

EngineConfig MakeEngineConfig(const ServerConfig& c, Device device) {
  EngineConfig e;
  e.kv_profile = c.kv_profile;
  e.kv_cache_bytes = ParseByteSize(c.kv_cache_memory, "--kv-cache-memory");
  e.max_num_seqs = static_cast<int32_t>(c.max_num_seqs);
  e.max_num_batched_tokens = static_cast<int32_t>(c.max_num_batched_tokens);
  e.target_itl_ms = static_cast<int32_t>(c.target_itl_ms);
  e.max_waiting_requests = static_cast<int32_t>(c.max_waiting_requests);
  e.max_model_len = c.max_model_len;
  e.prefix_caching = c.prefix_caching;
  e.device = device;
  e.cuda_graphs = !c.enforce_eager;
  return e;
}

// --gpu-memory-utilization: the KV cache gets what is left of that fraction of the GPU once the
// weights are on it (the runner is up) and a step's activations are set aside.
int64_t KvCacheBytesForUtilization(const ServerConfig& c, const Model& model, Device device) {
  const DeviceMemory memory = QueryDeviceMemory(device);
  const GpuMemorySplit split =
      SplitGpuMemory(c.gpu_memory_utilization, memory.total, memory.free,
                     StepActivationBytes(model.config, c.max_num_batched_tokens, c.max_num_seqs));
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  spdlog::info(
      "GPU memory: {:.0f}% of {:.1f} GiB: {:.2f} GiB in use (weights, CUDA), {:.2f} GiB "
      "for activations, {:.2f} GiB for the KV cache",
      100 * c.gpu_memory_utilization, split.total / kGiB, split.in_use / kGiB,
      split.activations / kGiB, split.kv_cache / kGiB);
  return split.kv_cache;
}

// Waits for SIGINT/SIGTERM on its own thread (the signals are blocked everywhere else).
class ShutdownSignal {
 public:
  ShutdownSignal() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::thread([this] {
      int sig = 0;
      sigwait(&set_, &sig);
      std::lock_guard lock(mutex_);
      signal_ = sig;
      cv_.notify_all();
    }).detach();  // blocked in sigwait for the life of the process
  }
  int Wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return signal_ != 0; });
    return signal_;
  }

 private:
  sigset_t set_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int signal_ = 0;
};

void RunServe(const ServeOptions& o) {
  const ServerConfig config = ResolveConfig(o);
  // A client that vanishes mid-write must not kill the server.
  std::signal(SIGPIPE, SIG_IGN);
  static ShutdownSignal* shutdown = new ShutdownSignal();  // before any other thread starts
  SetThreads(static_cast<int>(config.threads));
  const Device device = ResolveDevice(config.device, "device");  // before ports and model

  HttpServer http(config);
  const int port = http.Start();
  spdlog::info("listening on http://{}:{} (loading {})", config.host, port, config.model);
  std::unique_ptr<GrpcServer> grpc;
  if (config.grpc_port != 0) {
    grpc = std::make_unique<GrpcServer>(config, &http.context().metrics);
    spdlog::info("listening on grpc://{}:{}", config.host, grpc->Start());
  }
  if (config.host != "127.0.0.1" && config.host != "localhost" && config.host != "::1" &&
      config.api_key.empty()) {
    spdlog::warn("serving on {} without an API key (set --api-key)", config.host);
  }

  const auto t0 = std::chrono::steady_clock::now();
  Model model = LoadModel(config.model, LoadOptionsFor(device));
  PrepareModelForDevice(model, device);
  Tokenizer tokenizer(model.tokenizer);
  PromptBuilder prompts(tokenizer, ResolveChatTemplate(config.chat_template, model.tokenizer));
  EngineConfig engine_config = MakeEngineConfig(config, device);
  std::unique_ptr<ModelRunner> runner =
      MakeModelRunner(model, device, {.cuda_graphs = !config.enforce_eager});
  if (config.gpu_memory_utilization > 0) {
    if (device != Device::kCuda) {
      throw Error("gpu_memory_utilization: needs device cuda; this server runs on the cpu");
    }
    engine_config.kv_cache_bytes = KvCacheBytesForUtilization(config, model, device);
  }
  Engine engine(model, engine_config, std::move(runner));
  // gRPC's health watcher reads the engine: it stops before the engine goes, however this ends.
  const std::unique_ptr<GrpcServer, void (*)(GrpcServer*)> stop_watching(
      grpc.get(), [](GrpcServer* g) { g->StopWatchingEngine(); });
  ServingModel serving;
  serving.engine = &engine;
  serving.tokenizer = &tokenizer;
  serving.prompts = &prompts;
  serving.name = config.served_model_name;
  serving.max_model_len = engine.max_model_len();
  serving.vocab_size = std::min<int64_t>(model.config.vocab_size, tokenizer.vocab_size());
  serving.created = static_cast<int64_t>(std::time(nullptr));
  serving.tool_format = DetectToolCallFormat(prompts, config.tool_call_parser);
  if (serving.tool_format) {
    spdlog::info("tools: calls are read in the {} format",
                 ToolCallFormatName(*serving.tool_format));
  } else {
    spdlog::info("tools: the chat template does not offer tools; requests with tools get 400");
  }
  http.SetReady(serving);
  if (grpc) {
    grpc->SetReady(serving);
  }
  const EngineStats stats = engine.Stats();
  spdlog::info(
      "ready: model '{}' (context {}), KV cache {} blocks, {} ({:.2f} bits/element), "
      "loaded in {:.2f} s",
      serving.name, serving.max_model_len, stats.kv_blocks_total, config.kv_profile,
      stats.kv_real_bits_per_element,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  const int sig = shutdown->Wait();
  spdlog::info("{}: shutting down; in-flight requests get {:.0f} s to finish",
               sig == SIGINT ? "SIGINT" : "SIGTERM", config.shutdown_timeout_s);
  http.SetDraining();
  if (grpc) grpc->SetDraining();
  engine.StopAccepting();
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.shutdown_timeout_s * 1000));
  if (!engine.WaitIdle(timeout)) {
    spdlog::warn("aborting {} requests still running",
                 engine.Stats().running_requests + engine.Stats().waiting_requests);
    engine.AbortAll();
    engine.WaitIdle(std::chrono::seconds(5));
  }
  // Let the handlers write the final events of what just finished.
  http.context().WaitGenerationsDone(std::chrono::seconds(2));
  if (grpc) {
    grpc->WaitGenerationsDone(std::chrono::seconds(2));
    grpc->Stop();
  }
  http.Stop();
  spdlog::info("stopped");
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve the OpenAI-compatible HTTP API (chat/completions, completions, models, "
      "health, metrics, tokenize) and the gRPC service xquant.v1.Inference");
  cmd->add_option("--config,-c", opts->config_file,
                  "JSON file of server settings (keys as the flags below, with underscores; see "
                  "configs/server.json); flags override it");
  const ServerConfig defaults;
  const nlohmann::json default_values = ServerConfigToJson(defaults);
  ForEachConfigField(opts->flags, [&](const char* key, auto& member, const char* help) {
    CLI::Option* option = cmd->add_option(FlagName(key), member, help);
    const nlohmann::json& d = default_values[key];
    if (!(d.is_string() && d.get<std::string>().empty())) {
      option->default_str(d.is_string() ? d.get<std::string>() : d.dump());
    }
    opts->options[key] = option;
  });
  cmd->callback([opts] { RunServe(*opts); });
}

}  // namespace xq::cli
