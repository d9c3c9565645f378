#include "server/cli/offline_bench.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/kv/kv_budget.h"
#include "engine/model/model_loader.h"
#include "server/cli/commands.h"

namespace xq::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

struct InFlight {
  std::shared_ptr<RequestStream> stream;
  SteadyClock::time_point submitted;
  bool first_token_seen = false;
};

}  // namespace

void RunOfflineBench(const OfflineBenchOptions& o) {
  SetThreads(o.threads);
  const Model model = LoadModel(o.model);
  EngineConfig config;
  config.kv_profile = o.kv_profile;
  config.kv_cache_bytes = ParseByteSize(o.kv_memory);
  config.max_num_seqs = o.concurrency;
  config.max_num_batched_tokens = o.max_num_batched_tokens;
  config.max_waiting_requests = o.concurrency + 1;
  config.prefix_caching = o.prefix_caching;
  Engine engine(model, config);

  const int total = o.requests > 0 ? o.requests : 2 * o.concurrency;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> token(0,
                                               static_cast<int32_t>(model.config.vocab_size - 1));
  auto make_request = [&](int i) {
    GenerateRequest r;
    r.id = "bench-" + std::to_string(i);
    for (int t = 0; t < o.prompt_tokens; ++t) r.prompt.push_back(token(rng));
    r.params.temperature = 0.0f;
    r.params.ignore_eos = true;
    r.params.max_tokens = o.output_tokens;
    return r;
  };

  std::vector<InFlight> in_flight;
  int submitted = 0, finished = 0;
  int64_t output_tokens = 0;
  double ttft_sum = 0, latency_sum = 0;
  const auto start = SteadyClock::now();
  while (finished < total) {
    while (static_cast<int>(in_flight.size()) < o.concurrency && submitted < total) {
      in_flight.push_back({engine.Submit(make_request(submitted)), SteadyClock::now()});
      ++submitted;
    }
    bool progressed = false;
    for (size_t i = 0; i < in_flight.size();) {
      InFlight& f = in_flight[i];
      bool done = false;
      while (std::optional<RequestUpdate> u = f.stream->Next(std::chrono::milliseconds(0))) {
        progressed = true;
        for (const SequenceDelta& d : u->deltas) {
          output_tokens += static_cast<int64_t>(d.tokens.size());
          if (!d.tokens.empty() && !f.first_token_seen) {
            f.first_token_seen = true;
            ttft_sum += Seconds(SteadyClock::now() - f.submitted);
          }
        }
        if (u->finished) {
          if (!u->error.empty()) throw Error("bench: request failed: " + u->error);
          latency_sum += Seconds(SteadyClock::now() - f.submitted);
          done = true;
          break;
        }
      }
      if (done) {
        ++finished;
        in_flight[i] = std::move(in_flight.back());
        in_flight.pop_back();
      } else {
        ++i;
      }
    }
    if (!progressed) std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
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
      {"max_concurrent_sequences", s.max_concurrent_sequences},
      {"max_concurrent_full_sequences", s.max_concurrent_full_sequences},
      {"steps", s.steps},
  };
  std::printf("%s\n", o.json ? out.dump().c_str() : out.dump(2).c_str());
}

}  // namespace xq::cli
