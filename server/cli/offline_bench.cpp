#include "server/cli/offline_bench.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/grammar/grammar_compiler.h"
#include "engine/kv/kv_budget.h"
#include "engine/model/model_loader.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/commands.h"

namespace xq::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

void RunOfflineBench(const OfflineBenchOptions& o) {
  SetThreads(o.threads);
  const Device device = ResolveDevice(o.device);  // before the model loads: fail fast
  const Model model = LoadBenchModel(o.model, LoadOptionsFor(device));
  EngineConfig config;
  config.kv_profile = o.kv_profile;
  config.kv_cache_bytes = ParseByteSize(o.kv_memory);
  config.max_num_seqs = o.concurrency;
  config.max_num_batched_tokens = o.max_num_batched_tokens;
  config.target_itl_ms = o.target_itl_ms;
  config.max_waiting_requests = o.concurrency + 1;
  config.prefix_caching = o.prefix_caching;
  config.device = device;
  config.cuda_graphs = !o.enforce_eager;
  Engine engine(model, config);

  const int total = o.requests > 0 ? o.requests : 2 * o.concurrency;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> token(0,
                                               static_cast<int32_t>(model.config.vocab_size - 1));
  std::vector<int32_t> shared;
  for (int t = 0; t < std::min(o.shared_prefix_tokens, o.prompt_tokens); ++t) {
    shared.push_back(token(rng));
  }
  std::optional<GrammarSpec> grammar;
  double compile_ms = 0;
  if (!o.json_schema.empty()) {
    grammar = GrammarSpec{GrammarKind::kJsonSchema,
                          ReadTextFile(o.json_schema, "--json-schema"),
                          {},
                          "--json-schema"};
    // The first compile (vocabulary index included) is the cost a new schema pays once.
    const auto t0 = SteadyClock::now();
    GrammarCompiler(Tokenizer(model.tokenizer), static_cast<int32_t>(model.config.vocab_size), {})
        .Compile(*grammar);
    compile_ms = 1e3 * Seconds(SteadyClock::now() - t0);
  }
  auto make_request = [&](int i) {
    GenerateRequest r;
    r.id = "bench-" + std::to_string(i);
    r.prompt = shared;
    while (static_cast<int>(r.prompt.size()) < o.prompt_tokens) r.prompt.push_back(token(rng));
    r.params.temperature = 0.0f;
    r.params.ignore_eos = true;
    r.params.max_tokens = o.output_tokens;
    r.params.grammar = grammar;
    return r;
  };

  // One client thread per slot, each blocked on its stream: polling would steal the cores the
  // engine's compute threads run on.
  std::mutex mutex;
  int submitted = 0;
  int64_t output_tokens = 0;
  double ttft_sum = 0, latency_sum = 0;
  std::string failure;
  auto client = [&] {
    for (;;) {
      GenerateRequest request;
      {
        std::lock_guard lock(mutex);
        if (submitted == total || !failure.empty()) return;
        request = make_request(submitted++);
      }
      const auto t0 = SteadyClock::now();
      std::shared_ptr<RequestStream> stream = engine.Submit(std::move(request));
      int64_t tokens = 0;
      double ttft = 0;
      for (;;) {
        std::optional<RequestUpdate> u = stream->Next(std::chrono::seconds(1));
        if (!u) continue;
        for (const SequenceDelta& d : u->deltas) {
          if (!d.tokens.empty() && tokens == 0) ttft = Seconds(SteadyClock::now() - t0);
          tokens += static_cast<int64_t>(d.tokens.size());
        }
        if (u->finished) {
          std::lock_guard lock(mutex);
          if (!u->error.empty()) failure = u->error;
          output_tokens += tokens;
          ttft_sum += ttft;
          latency_sum += Seconds(SteadyClock::now() - t0);
          break;
        }
      }
    }
  };
  const auto start = SteadyClock::now();
  std::vector<std::thread> clients;
  for (int i = 0; i < o.concurrency; ++i) clients.emplace_back(client);
  for (std::thread& t : clients) t.join();
  if (!failure.empty()) throw Error("bench: a request failed: " + failure);
  const double elapsed = Seconds(SteadyClock::now() - start);
  const EngineStats s = engine.Stats();
  nlohmann::json out = {
      {"engine", "xquant"},
      {"kv_profile", o.kv_profile},
      {"kv_cache_memory", o.kv_memory},
      {"kv_blocks_total", s.kv_blocks_total},
      {"kv_real_bits_per_element", s.kv_real_bits_per_element},
      {"kv_equivalent_bits", s.kv_equivalent_bits},
      {"concurrency", o.concurrency},
      {"prompt_tokens", o.prompt_tokens},
      {"output_tokens", o.output_tokens},
      {"requests", total},
      {"elapsed_s", elapsed},
      {"output_tokens_per_s", static_cast<double>(output_tokens) / elapsed},
      {"total_tokens_per_s",
       static_cast<double>(output_tokens + int64_t{total} * o.prompt_tokens) / elapsed},
      {"mean_ttft_s", ttft_sum / total},
      {"mean_latency_s", latency_sum / total},
      {"preemptions", s.preemptions},
      {"prompt_tokens_computed", s.prompt_tokens},
      {"shared_prefix_tokens", o.shared_prefix_tokens},
      {"prefix_caching", o.prefix_caching},
      {"cuda_graphs", device == Device::kCuda && !o.enforce_eager},
      {"prefix_cache_hit_tokens", s.prefix_cache_hits},
      {"max_concurrent_sequences", s.max_concurrent_sequences},
      {"max_concurrent_full_sequences", s.max_concurrent_full_sequences},
      {"steps", s.steps},
  };
  if (grammar) {
    out["json_schema"] = o.json_schema;
    out["grammar_compile_ms"] = compile_ms;
  }
  std::printf("%s\n", o.json ? out.dump().c_str() : out.dump(2).c_str());
}

}  // namespace xq::cli
