// `xquant tune`: the cheapest KV profile for the user's model whose KL against fp16 on their
// text stays within --max-kl (engine/eval/profile_tuner.h), written as a profile file with its
// measured KL and costs in the description.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/common/error.h"
#include "engine/eval/key_layer_search.h"
#include "engine/eval/profile_tuner.h"
#include "engine/model/cpu_kernel_weights.h"
#include "engine/eval/teacher_forced_eval.h"
#include "engine/kv/kv_budget.h"
#include "engine/model/model_loader.h"
#include "engine/runner/cpu_model_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/commands.h"

namespace xq::cli {
namespace {

struct TuneCommandOptions {
  std::string model;
  std::string text;
  std::string base = "xquant-1.5";
  std::string out = "tuned.json";
  std::string memory = "512MiB";
  double max_kl = 0.1;
  double max_real_bits = 16.0;
  int64_t max_tokens = 1024;
  int64_t context = 4096;
  int threads = 0;
  bool skip_grid = false;          // start from --base itself
  bool search_key_layers = false;  // then move key bits between layers (key_layer_search.h)
};

std::string Describe(const TuneCandidate& c, const TuneCommandOptions& o) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "Tuned by xquant tune for %s: KL %.4f vs fp16 (budget %.4g) on %s; %.3f equivalent "
                "bits, %.3f real bits, %.0f bytes/token at %lld tokens.",
                o.model.c_str(), c.kl, o.max_kl, o.text.c_str(), c.accounting.equivalent_bits,
                c.accounting.real_bits_per_element, c.bytes_per_token,
                static_cast<long long>(o.context));
  std::string out = buf;
  if (o.search_key_layers) out += " Key bits per layer searched (--search-key-layers).";
  return out;
}

// The layer search from `start`; the better of the two, with its costs.
TuneCandidate SearchKeyLayersFrom(const TuneCandidate& start, const ModelKvShape& shape,
                                  const TuneCommandOptions& o, const TuneEvaluator& evaluate) {
  const KeyLayerSearchResult s = SearchKeyLayers(start.profile, start.kl, shape, evaluate);
  std::printf("key layers from %s (KL %.4f): layer, bits, KL one width up, one width down\n",
              start.profile.name.c_str(), start.kl);
  for (const KeyLayerSensitivity& l : s.layers) {
    std::printf("  L%-3lld %d-bit  %.4f  %.4f\n", static_cast<long long>(l.layer), l.bits,
                l.kl_wider, l.kl_narrower);
  }
  for (const auto& [name, kl] : s.tried) std::printf("  %s KL %.4f\n", name.c_str(), kl);
  if (s.kl >= start.kl) return start;
  TuneCandidate c = CostedCandidate(s.profile, shape, o.context);
  c.kl = s.kl;
  return c;
}

void RunTune(const TuneCommandOptions& o) {
  SetThreads(o.threads);
  Model model = LoadModel(o.model);
  PackForCpuKernels(model);  // tune runs on the CPU runner
  const Tokenizer tokenizer(model.tokenizer);
  std::vector<int32_t> tokens = tokenizer.Encode(ReadTextFile(o.text, "--text"), true, false);
  const int64_t length = std::min<int64_t>(o.max_tokens, model.config.max_context);
  if (static_cast<int64_t>(tokens.size()) > length) tokens.resize(length);
  const KvProfile base = LoadKvProfile(o.base);
  if (static_cast<int64_t>(tokens.size()) <= base.recent_window + 2 * base.block_tokens) {
    throw Error("--text: " + std::to_string(tokens.size()) +
                " tokens leave nothing quantized to score (the window is " +
                std::to_string(base.recent_window) + "); give a longer text or --max-tokens");
  }
  const int64_t budget = ParseByteSize(o.memory), chunk = 256;
  KvBackend baseline = MakeKvBackend(model, LoadKvProfile("fp16"), budget, chunk,
                                     std::make_unique<CpuModelRunner>(model));
  const int64_t score_from = base.recent_window + 2 * base.block_tokens;  // past the sinks too
  auto evaluate = [&](const std::vector<KvProfile>& profiles) {
    std::vector<KvBackend> backends;
    std::vector<KvBackend*> pointers;
    for (const KvProfile& p : profiles) {
      backends.push_back(MakeKvBackend(model, p, budget, chunk, std::make_unique<CpuModelRunner>(model)));
    }
    for (KvBackend& b : backends) pointers.push_back(&b);
    const auto results = EvaluateTeacherForced(model, tokens, baseline, pointers,
                                               {.score_from = score_from, .chunk = chunk});
    std::vector<double> kl;
    for (size_t i = 1; i < results.size(); ++i) {
      kl.push_back(results[i].kl_vs_baseline);
      spdlog::info("tune: {} KL {:.4f}", profiles[i - 1].name, kl.back());
    }
    return kl;
  };
  const ModelKvShape shape{model.config.num_layers, model.config.num_kv_heads,
                           model.config.head_dim};
  const TuneResult r = TuneProfile(
      o.skip_grid ? std::vector<KvProfile>{base} : TuneCandidates(base), shape,
      {.max_kl = o.max_kl, .max_real_bits = o.max_real_bits, .context_tokens = o.context},
      evaluate);
  for (const TuneCandidate& c : r.tried) {
    std::printf("%-10s eq %.3f real %.3f  %7.0f B/token  KL %.4f\n", c.profile.name.c_str(),
                c.accounting.equivalent_bits, c.accounting.real_bits_per_element, c.bytes_per_token,
                c.kl);
  }
  if (!r.found) {
    throw Error("tune: no candidate within --max-kl " + std::to_string(o.max_kl) +
                " and --max-real-bits " + std::to_string(o.max_real_bits) +
                "; the closest is listed above (int8 or fp16 may be what this model needs)");
  }
  const TuneCandidate chosen =
      o.search_key_layers ? SearchKeyLayersFrom(r.best, shape, o, evaluate) : r.best;
  KvProfile best = chosen.profile;
  best.name = std::filesystem::path(o.out).stem().string();
  best.description = Describe(chosen, o);
  std::ofstream(o.out) << KvProfileJson(best);
  std::printf("wrote %s: %s\n", o.out.c_str(), best.description.c_str());
}

}  // namespace

void AddTuneCommand(CLI::App& app) {
  auto o = std::make_shared<TuneCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tune", "Find the cheapest KV profile within a KL budget on your model and text");
  cmd->add_option("--model,-m", o->model, "GGUF file or Hugging Face model directory")->required();
  cmd->add_option("--text", o->text, "Text to measure KL on (your typical input)")->required();
  cmd->add_option("--max-kl", o->max_kl, "Largest mean KL(fp16 || profile) per token, nats")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-real-bits", o->max_real_bits,
                  "Largest real bits per element of a compressed block")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 16.0));
  cmd->add_option("--base", o->base,
                  "Profile whose block size, window and calibration the candidates keep")
      ->capture_default_str();
  cmd->add_option("--out,-o", o->out, "Where to write the profile (its stem names it)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens of the text to measure on")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{64}, int64_t{1} << 20));
  cmd->add_option("--context", o->context, "Context length whose bytes per token are minimized")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--kv-cache-memory", o->memory, "KV memory per evaluated profile")
      ->capture_default_str();
  cmd->add_option("--threads,-t", o->threads, "Threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--skip-grid", o->skip_grid,
                "Start from --base itself (evaluated once) instead of searching the grid");
  cmd->add_flag("--search-key-layers", o->search_key_layers,
                "Then move key bits between layers at the same cost: each layer's keys one "
                "width up and down alone (2 runs per layer), then the best combinations");
  cmd->callback([o] { RunTune(*o); });
}

}  // namespace xq::cli
