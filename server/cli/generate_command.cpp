// `xquant generate`: streams a completion of one prompt to stdout (the demo until the server
// exists, and a quick way to check a model).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "engine/common/error.h"
#include "engine/model/model_loader.h"
#include "engine/model/transformer.h"
#include "engine/sampling/sampler.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/commands.h"
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
  int64_t seed = -1;
  int threads = 0;
  KvOptions kv;
};

constexpr int64_t kPrefillChunk = 512;

std::string TokenText(const Tokenizer& tok, const std::optional<int32_t>& id) {
  return id ? tok.TokenBytes(*id) : std::string();
}

void RunGenerate(const GenerateOptions& o) {
  SetThreads(o.threads);
  auto t0 = std::chrono::steady_clock::now();
  Model model = LoadModel(o.model);
  Tokenizer tokenizer(model.tokenizer);
  Transformer transformer(model);
  spdlog::info("loaded {} ({} layers, hidden {}, vocab {}) in {:.2f} s", model.source,
               model.config.num_layers, model.config.hidden_size, model.config.vocab_size,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  std::vector<int32_t> prompt;
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", o.prompt});
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
  const int64_t budget = std::min<int64_t>(o.max_tokens, context - prompt.size());

  SamplingParams sp;
  sp.temperature = o.temperature;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.min_p = o.min_p;
  if (o.seed >= 0) sp.seed = static_cast<uint64_t>(o.seed);
  Sampler sampler(sp);
  auto kv = MakeKvCache(model, o.kv.profile, o.kv.memory, kPrefillChunk,
                        static_cast<int64_t>(prompt.size()) + budget);
  auto cache_ptr = kv->NewSequence(static_cast<int64_t>(prompt.size()) + budget);
  SequenceKvCache& cache = *cache_ptr;
  IncrementalDetokenizer detok(tokenizer);

  ForwardBatch batch;
  std::vector<float> logits;
  auto t_prefill = std::chrono::steady_clock::now();
  for (size_t start = 0; start < prompt.size(); start += kPrefillChunk) {
    const size_t end = std::min(prompt.size(), start + kPrefillChunk);
    batch.tokens.assign(prompt.begin() + start, prompt.begin() + end);
    batch.positions.clear();
    for (size_t i = start; i < end; ++i) batch.positions.push_back(static_cast<int32_t>(i));
    batch.sequences = {{&cache, static_cast<int64_t>(end - start)}};
    batch.logits_rows = {static_cast<int64_t>(end - start) - 1};
    transformer.Forward(batch, logits);
  }
  auto t_decode = std::chrono::steady_clock::now();
  int64_t generated = 0;
  for (; generated < budget; ++generated) {
    const int32_t next = sampler.Sample(logits);
    if (tokenizer.IsEndOfGeneration(next) ||
        std::find(model.extra_eos_ids.begin(), model.extra_eos_ids.end(), next) !=
            model.extra_eos_ids.end()) {
      break;
    }
    const std::string text = detok.Push(next);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (generated + 1 == budget) {
      ++generated;
      break;
    }
    batch.tokens = {next};
    batch.positions = {static_cast<int32_t>(cache.length())};
    batch.sequences = {{&cache, 1}};
    batch.logits_rows = {0};
    transformer.Forward(batch, logits);
  }
  const std::string rest = detok.Flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  if (::isatty(::fileno(stdout))) std::fputc('\n', stdout);  // keep piped output exact
  auto t_end = std::chrono::steady_clock::now();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  spdlog::info(
      "prompt {} tokens in {:.3f} s ({:.1f} tok/s); generated {} tokens in {:.3f} s "
      "({:.1f} tok/s)",
      prompt.size(), secs(t_prefill, t_decode), prompt.size() / secs(t_prefill, t_decode),
      generated, secs(t_decode, t_end), generated / std::max(secs(t_decode, t_end), 1e-9));
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
  cmd->add_option("--seed", opts->seed, "Sampling seed (-1 = random)")->capture_default_str();
  cmd->add_option("--threads,-t", opts->threads, "Threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--kv-profile", opts->kv.profile,
                  "KV precision profile: a name in configs/kv (fp16, int8, kivi-2, xquant-1.38, "
                  "xquant-1.15, ...) or a JSON file")
      ->capture_default_str();
  AddKvMemoryOption(cmd, opts->kv);
  cmd->callback([opts] { RunGenerate(*opts); });
}

}  // namespace xq::cli
