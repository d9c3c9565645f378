// ServerConfig: every setting of `xquant serve`, read from a JSON file (configs/server.json has
// the defaults) with command-line flags of the same names overriding it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace xq {

struct ServerConfig {
  std::string model;              // GGUF file or Hugging Face directory
  std::string served_model_name;  // the id in /v1/models; empty: the model file's stem
  std::string chat_template;      // Jinja file or built-in name; empty: the model's own
  std::string tool_call_parser;   // hermes, llama3_json, mistral; empty: from the template
  std::string host = "127.0.0.1";
  int64_t port = 8000;
  int64_t grpc_port = 50051;    // 0: no gRPC service
  std::string api_key;          // empty: no authentication
  std::string allowed_origins;  // CORS: comma-separated origins, or *; empty: none

  std::string kv_profile = "fp16";
  std::string kv_cache_memory = "1GiB";
  double gpu_memory_utilization = 0;  // (0, 1]: the KV cache's size from it (cuda); 0: off
  int64_t max_num_seqs = 64;
  int64_t max_num_batched_tokens = 512;
  int64_t target_itl_ms = 1000;  // prefill chunks shrink while streams decode; 0: off
  int64_t max_waiting_requests = 1024;
  int64_t max_model_len = 0;  // 0: the model's context length
  bool prefix_caching = true;
  int64_t threads = 0;          // compute threads; 0: all cores
  std::string device = "auto";  // cpu, cuda or auto (cuda when built with it and a GPU is usable)
  bool enforce_eager = false;   // cuda: no CUDA graphs

  int64_t http_threads = 128;  // requests served at once (a stream holds one to its end)
  std::string max_body_size = "16MiB";
  double read_timeout_s = 30;  // for a request's head and body together
  double write_timeout_s = 30;
  double keep_alive_timeout_s = 5;
  double shutdown_timeout_s = 30;  // in-flight requests get this long to finish on SIGTERM
  int64_t retry_after_s = 1;       // Retry-After on 429 / 503
  bool access_log = true;          // one info line per request
};

// Calls f(key, member, description) for each field, in the order above.
template <class Config, class F>
void ForEachConfigField(Config& c, F&& f);

// Reads a JSON object over `base`: unknown keys and wrong types are errors naming `source` and
// the key. The result is validated.
ServerConfig ServerConfigFromJson(const nlohmann::json& j, const std::string& source,
                                  ServerConfig base = {});
ServerConfig LoadServerConfig(const std::string& path, ServerConfig base = {});
nlohmann::json ServerConfigToJson(const ServerConfig& c);
// Throws xq::Error naming `source` and the field.
void ValidateServerConfig(const ServerConfig& c, const std::string& source);

template <class Config, class F>
void ForEachConfigField(Config& c, F&& f) {
  f("model", c.model, "Model: a GGUF file or a Hugging Face directory (required)");
  f("served_model_name", c.served_model_name,
    "Model id clients use (in /v1/models); default: the model file's name");
  f("chat_template", c.chat_template,
    "Chat template override: a Jinja file or chatml, llama2, llama3, mistral, qwen2, gemma, phi3");
  f("tool_call_parser", c.tool_call_parser,
    "How the model writes tool calls: hermes, llama3_json or mistral; default: from the chat "
    "template");
  f("host", c.host, "Address to bind (loopback by default; 0.0.0.0 for all interfaces)");
  f("port", c.port, "HTTP port");
  f("grpc_port", c.grpc_port, "gRPC port (xquant.v1.Inference, health, reflection); 0 disables");
  f("api_key", c.api_key, "Require 'Authorization: Bearer KEY' on the API routes");
  f("allowed_origins", c.allowed_origins,
    "Browser origins allowed to call the API (CORS): comma-separated, or *; default none");
  f("kv_profile", c.kv_profile,
    "KV precision profile: a name in configs/kv (fp16, int8, kivi-2, xquant-1.38, ...) or a file");
  f("kv_cache_memory", c.kv_cache_memory, "KV cache memory (e.g. 2GiB)");
  f("gpu_memory_utilization", c.gpu_memory_utilization,
    "cuda: the fraction of the GPU's memory for weights, activations and KV cache; the KV cache "
    "gets what is left (replaces kv_cache_memory); 0: off");
  f("max_num_seqs", c.max_num_seqs, "Sequences in the running batch");
  f("max_num_batched_tokens", c.max_num_batched_tokens, "Tokens per engine step");
  f("target_itl_ms", c.target_itl_ms,
    "While streams are decoding, prefill chunks shrink to keep each step, every stream's gap "
    "between tokens, near this many ms (0: chunks always fill max_num_batched_tokens)");
  f("max_waiting_requests", c.max_waiting_requests, "Queued requests beyond which 429 is returned");
  f("max_model_len", c.max_model_len, "Context length limit (0: the model's)");
  f("prefix_caching", c.prefix_caching, "Reuse KV blocks of shared prompt prefixes");
  f("threads", c.threads, "Compute threads (0: all cores)");
  f("device", c.device,
    "Where the model runs: cpu, cuda, or auto (cuda when this binary has CUDA and a GPU is "
    "usable)");
  f("enforce_eager", c.enforce_eager,
    "cuda: launch every kernel of every step from the host instead of replaying decode steps "
    "as CUDA graphs (for debugging; decode is slower)");
  f("http_threads", c.http_threads, "HTTP handler threads (requests served at once)");
  f("max_body_size", c.max_body_size, "Largest request body (larger ones get 413)");
  f("read_timeout_s", c.read_timeout_s, "Seconds for a request's head and body together");
  f("write_timeout_s", c.write_timeout_s, "Seconds a write to a client may block");
  f("keep_alive_timeout_s", c.keep_alive_timeout_s, "Seconds an idle keep-alive connection lives");
  f("shutdown_timeout_s", c.shutdown_timeout_s,
    "On SIGTERM/SIGINT, seconds in-flight requests get to finish before they are aborted");
  f("retry_after_s", c.retry_after_s, "Retry-After seconds sent with 429 and 503");
  f("access_log", c.access_log, "Log one line per request");
}

}  // namespace xq
