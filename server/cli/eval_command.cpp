// `xquant eval`: KV-profile quality on the real forward path. Teacher-forced text (perplexity,
// KL and top-1 against the fp16 cache) or passkey retrieval; one JSON object per line with
// --json, a table otherwise.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "engine/common/error.h"
#include "engine/eval/passkey_eval.h"
#include "engine/eval/teacher_forced_eval.h"
#include "engine/kv/kv_accounting.h"
#include "engine/model/model_loader.h"
#include "server/cli/commands.h"
#include "server/cli/device_option.h"
#include "server/cli/kv_options.h"

namespace xq::cli {
namespace {

struct EvalOptions {
  std::string model;
  std::string task = "text";
  std::string text;
  std::vector<std::string> profiles = {"xquant-1.38"};
  std::string baseline = "fp16";
  std::string memory = "1GiB";
  int64_t max_tokens = 2048;
  int64_t chunk = 256;
  std::vector<int64_t> contexts = {1024, 2048, 4096, 8000};
  std::vector<double> depths = {0.1, 0.3, 0.5, 0.7, 0.9};
  bool json = false;
  int threads = 0;
  std::string device = "auto";
  std::string baseline_device;  // empty: --device
  std::string baseline_weights = "same";
};

void Emit(const nlohmann::json& j, bool json) {
  if (json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::string line;
  for (const auto& [key, value] : j.items()) {
    line += key + "=" + (value.is_string() ? value.get<std::string>() : value.dump()) + "  ";
  }
  std::printf("%s\n", line.c_str());
}

void RunEval(const EvalOptions& o) {
  SetThreads(o.threads);
  const Device device = ResolveDevice(o.device);  // before the model loads: fail fast
  const Device baseline_device =
      o.baseline_device.empty() ? device : ResolveDevice(o.baseline_device);
  // One model serves both runners: with a CPU baseline its Q5 and K-quant matrices are transcoded
  // for the CPU's kernels (Q4_1 / Q8_0), and the CUDA runner multiplies those same blocks.
  Model model =
      LoadModel(o.model, LoadOptionsFor(baseline_device == Device::kCpu ? Device::kCpu : device));
  // Packed for the CPU kernels, quantized matrices would reach a CUDA runner as fp16 copies; a
  // CPU runner on unpacked ones packs per call, with the same results.
  PrepareModelForDevice(model, baseline_device == device ? device : Device::kCuda);
  const Tokenizer tokenizer(model.tokenizer);
  const int64_t max_chunk = o.task == "passkey" ? 512 : o.chunk;

  int64_t context = o.max_tokens;
  if (o.task == "passkey") context = *std::max_element(o.contexts.begin(), o.contexts.end());
  context = std::min<int64_t>(context, model.config.max_context);
  std::vector<std::unique_ptr<KvBackend>> backends;
  std::vector<KvBackend*> profiles;
  for (const std::string& p : o.profiles) {
    backends.push_back(MakeKvBackend(model, p, o.memory, max_chunk, context, device));
    profiles.push_back(backends.back().get());
  }
  auto accounting = [&](const KvBackend& b) {
    const KvAccounting a = ComputeKvAccounting(b.plan.layout, b.plan.recent_window);
    return nlohmann::json{{"eq_bits", a.equivalent_bits},
                          {"real_bits", a.real_bits_per_element},
                          {"bytes_per_token", a.bytes_per_token},
                          {"bytes_per_token_at_context", BytesPerTokenAt(a, context)},
                          {"context_tokens", context}};
  };

  if (o.task == "passkey") {
    PasskeyOptions po;
    po.context_tokens = o.contexts;
    po.depths = o.depths;
    for (const PasskeyResult& r : EvaluatePasskey(model, tokenizer, profiles, po)) {
      Emit({{"task", "passkey"},
            {"profile", r.profile},
            {"context_tokens", r.context_tokens},
            {"correct", r.correct},
            {"total", r.total},
            {"accuracy", double(r.correct) / r.total}},
           o.json);
    }
    return;
  }
  if (o.text.empty()) throw Error("--text: a text file is required for the text task");
  std::vector<int32_t> tokens = tokenizer.Encode(ReadTextFile(o.text, "--text"), true, false);
  if (static_cast<int64_t>(tokens.size()) > context) tokens.resize(context);
  // --baseline-weights fp32: the reference runner reads every matrix dequantized, the file's exact
  // values (fp16 copies of them on a GPU), so the results measure the quantized matmuls.
  std::optional<Model> exact;
  if (o.baseline_weights == "fp32") exact = LoadModel(o.model, {.keep_quantized = false});
  auto baseline = MakeKvBackend(exact ? *exact : model, o.baseline, o.memory, max_chunk, context,
                                baseline_device);
  int64_t score_from = 0;
  for (const KvBackend* b : profiles) {
    score_from = std::max(score_from, b->plan.recent_window + b->plan.layout.block_tokens);
  }
  const auto results = EvaluateTeacherForced(model, tokens, *baseline, profiles,
                                             {.score_from = score_from, .chunk = o.chunk});
  for (size_t i = 1; i < results.size(); ++i) {
    const TeacherForcedResult& r = results[i];
    nlohmann::json j = {{"profile", r.profile}};
    j.update(accounting(*profiles[i - 1]));
    j.update({{"tokens_scored", r.tokens_scored},
              {"ppl", r.ppl},
              {"ppl_fp16", r.ppl_baseline},
              {"kl_vs_fp16", r.kl_vs_baseline},
              {"top1_agreement", r.top1_agreement},
              {"clear_positions", r.clear_positions},
              {"top1_agreement_clear", r.top1_agreement_clear},
              {"device", DeviceName(device)},
              {"baseline_device", DeviceName(baseline_device)},
              {"baseline_weights", o.baseline_weights}});
    Emit(j, o.json);
  }
}

}  // namespace

void AddEvalCommand(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Quality of KV profiles on the real forward path");
  cmd->add_option("--model,-m", o->model, "GGUF file or Hugging Face model directory")->required();
  cmd->add_option("--task", o->task, "text (perplexity, KL, top-1 vs fp16) or passkey")
      ->check(CLI::IsMember({"text", "passkey"}))
      ->capture_default_str();
  cmd->add_option("--text", o->text, "Text file for the text task");
  cmd->add_option("--kv-profile", o->profiles, "Profiles to evaluate (repeatable)")
      ->capture_default_str();
  cmd->add_option("--baseline", o->baseline, "Reference profile")->capture_default_str();
  cmd->add_option("--kv-cache-memory", o->memory, "KV memory per profile")->capture_default_str();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens of the text to evaluate")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_option("--chunk", o->chunk, "Prefill chunk (results do not depend on it)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{8192}));
  cmd->add_option("--contexts", o->contexts, "Passkey context lengths")->capture_default_str();
  cmd->add_option("--depths", o->depths, "Passkey depths in [0, 1]")->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON object per line");
  cmd->add_option("--threads,-t", o->threads, "Threads (0 = all cores)")->capture_default_str();
  AddDeviceOption(cmd, o->device);
  cmd->add_option("--baseline-device", o->baseline_device,
                  "Where the baseline runs (default: --device); cpu with --device cuda compares "
                  "the CUDA runner with the CPU's (top1_agreement_clear: where the CPU's top-2 "
                  "gap is at least 0.15)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->add_option("--baseline-weights", o->baseline_weights,
                  "The baseline's weights (text task): same (as --model loads them), or fp32 "
                  "(every matrix dequantized: measures the quantized matmuls, e.g. a K-quant "
                  "file transcoded for the CPU)")
      ->check(CLI::IsMember({"same", "fp32"}))
      ->capture_default_str();
  cmd->callback([o] { RunEval(*o); });
}

}  // namespace xq::cli
