// `xquant generate`: streams a completion of one prompt to stdout through the engine (a quick
// way to check a model, a profile or sampling settings without a server).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "engine/common/error.h"
#include "engine/engine.h"
#include "engine/kv/kv_budget.h"
#include "engine/model/model_loader.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/commands.h"
#include "server/cli/device_option.h"
#include "server/cli/kv_options.h"
#include "server/core/prompt_builder.h"

namespace xq::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string system;
  std::string chat_template;  // builtin name or file; empty = the model's own
  bool chat = false;
  int max_tokens = 128;
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repetition_penalty = 1.0f;
  std::vector<std::string> stop;
  int64_t seed = -1;
  int threads = 0;
  std::string device = "auto";
  KvOptions kv;
};

constexpr int64_t kPrefillChunk = 512;

std::string TokenText(const Tokenizer& tok, const std::optional<int32_t>& id) {
  return id ? tok.TokenBytes(*id) : std::string();
}

void RunGenerate(const GenerateOptions& o) {
  SetThreads(o.threads);
  const Device device = ResolveDevice(o.device);  // before the model loads: fail fast
  auto t0 = std::chrono::steady_clock::now();
  Model model = LoadModel(o.model, LoadOptionsFor(device));
  PrepareModelForDevice(model, device);
  Tokenizer tokenizer(model.tokenizer);
  spdlog::info("loaded {} ({} layers, hidden {}, vocab {}) in {:.2f} s", model.source,
               model.config.num_layers, model.config.hidden_size, model.config.vocab_size,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  std::vector<int32_t> prompt;
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back(TextMessage("system", o.system));
    messages.push_back(TextMessage("user", o.prompt));
    ChatTemplateOptions opts;
    opts.bos_token = TokenText(tokenizer, model.tokenizer.bos_id);
    opts.eos_token = TokenText(tokenizer, model.tokenizer.eos_id);
    const std::string text =
        ResolveChatTemplate(o.chat_template, model.tokenizer).Apply(messages, opts);
    // Templates usually write BOS themselves; don't add a second one.
    const bool has_bos = !opts.bos_token.empty() && text.starts_with(opts.bos_token);
    prompt = tokenizer.Encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
  } else {
    prompt = tokenizer.Encode(o.prompt, /*add_special=*/true, /*parse_special=*/false);
  }
  if (prompt.empty()) throw Error("--prompt: the prompt encodes to no tokens");
  const int64_t context = model.config.max_context;
  if (static_cast<int64_t>(prompt.size()) >= context) {
    throw Error("--prompt: " + std::to_string(prompt.size()) +
                " tokens do not fit the model's context of " + std::to_string(context));
  }
  GenerateRequest request;
  request.id = "generate";
  request.prompt = prompt;
  SamplingParams& sp = request.params;
  sp.max_tokens = static_cast<int32_t>(std::min<int64_t>(o.max_tokens, context - prompt.size()));
  sp.temperature = o.temperature;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.min_p = o.min_p;
  sp.repetition_penalty = o.repetition_penalty;
  sp.stop = o.stop;
  if (o.seed >= 0) sp.seed = static_cast<uint64_t>(o.seed);

  EngineConfig config;
  config.kv_profile = o.kv.profile;
  config.kv_cache_bytes = ParseByteSize(o.kv.memory);
  config.max_num_seqs = 1;
  config.max_num_batched_tokens = static_cast<int32_t>(kPrefillChunk);
  config.prefix_caching = false;
  config.device = device;
  Engine engine(model, config);
  const auto t_submit = std::chrono::steady_clock::now();
  std::shared_ptr<RequestStream> stream;
  try {
    stream = engine.Submit(std::move(request));
  } catch (const InvalidRequest& e) {
    throw Error(std::string("invalid generation settings: ") + e.what());
  }
  std::optional<std::chrono::steady_clock::time_point> t_first;
  int64_t generated = 0;
  for (;;) {
    std::optional<RequestUpdate> u = stream->Next(std::chrono::seconds(1));
    if (!u) continue;
    for (const SequenceDelta& d : u->deltas) {
      if (!d.tokens.empty() && !t_first) t_first = std::chrono::steady_clock::now();
      generated += static_cast<int64_t>(d.tokens.size());
      std::fwrite(d.text.data(), 1, d.text.size(), stdout);
    }
    std::fflush(stdout);
    if (!u->error.empty()) throw Error("generation failed: " + u->error);
    if (u->finished) break;
  }
  if (::isatty(::fileno(stdout))) std::fputc('\n', stdout);  // keep piped output exact
  const auto t_end = std::chrono::steady_clock::now();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  const auto first = t_first.value_or(t_end);
  spdlog::info(
      "prompt {} tokens, first token after {:.3f} s; generated {} tokens in {:.3f} s "
      "({:.1f} tok/s)",
      prompt.size(), secs(t_submit, first), generated, secs(first, t_end),
      generated > 1 ? (generated - 1) / std::max(secs(first, t_end), 1e-9) : 0.0);
}

}  // namespace

void AddGenerateCommand(CLI::App& app) {
  auto opts = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Stream a completion of one prompt to stdout");
  cmd->add_option("--model,-m", opts->model, "GGUF file or Hugging Face model directory")
      ->required();
  cmd->add_option("--prompt,-p", opts->prompt, "Prompt text (the user message with --chat)")
      ->required();
  cmd->add_flag("--chat", opts->chat, "Apply the model's chat template to the prompt");
  cmd->add_option("--system", opts->system, "System message (with --chat)");
  cmd->add_option("--chat-template", opts->chat_template,
                  "Override the chat template: a Jinja file or one of chatml, llama2, llama3, "
                  "mistral, qwen2, gemma, phi3");
  cmd->add_option("--max-tokens,-n", opts->max_tokens, "Tokens to generate")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temperature", opts->temperature, "0 = greedy")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-k", opts->top_k, "0 disables")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", opts->top_p)->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--min-p", opts->min_p)->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--repetition-penalty", opts->repetition_penalty, "1 disables")
      ->capture_default_str()
      ->check(CLI::Range(0.01f, 100.0f));
  cmd->add_option("--stop", opts->stop, "Stop string (repeatable); not printed");
  cmd->add_option("--seed", opts->seed, "Sampling seed (-1 = random)")->capture_default_str();
  cmd->add_option("--threads,-t", opts->threads, "Threads (0 = all cores)")->capture_default_str();
  AddDeviceOption(cmd, opts->device);
  cmd->add_option("--kv-profile", opts->kv.profile,
                  "KV precision profile: a name in configs/kv (fp16, int8, kivi-2, xquant-1.38, "
                  "xquant-1.15, ...) or a JSON file")
      ->capture_default_str();
  AddKvMemoryOption(cmd, opts->kv);
  cmd->callback([opts] { RunGenerate(*opts); });
}

}  // namespace xq::cli
