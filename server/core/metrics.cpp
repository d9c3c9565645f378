#include "server/core/metrics.h"

#include <algorithm>
#include <cstdio>

namespace xq {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

void Header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Gauge(std::string& out, const std::string& name, const std::string& help,
           const std::string& labels, double value, const char* type = "gauge") {
  Header(out, name, type, help);
  out += name + labels + " " + Num(value) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::Observe(double value) {
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

uint64_t Histogram::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

void Histogram::Render(const std::string& name, const std::string& help, std::string& out) const {
  std::lock_guard lock(mutex_);
  Header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + Num(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += counts_.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += name + "_sum " + Num(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

std::string PrometheusLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

ServerMetrics::ServerMetrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0}),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
             0.075, 0.1,    0.15,  0.2,  0.3,   0.4,  0.5,   0.75, 1.0,  2.5}),
      e2e_({0.01, 0.05, 0.1,  0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,  5.0,
            10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0}),
      prompt_len_(
          {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}),
      output_len_(
          {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}) {}

void ServerMetrics::ObserveRequest(const RequestTiming& t) {
  if (t.ttft_s) {
    ttft_.Observe(*t.ttft_s);
    // Per token after the first, as vLLM defines it; needs at least two tokens.
    if (t.completion_tokens > 1) {
      tpot_.Observe((t.e2e_s - *t.ttft_s) / (t.completion_tokens - 1));
    }
  }
  e2e_.Observe(t.e2e_s);
  prompt_len_.Observe(t.prompt_tokens);
  output_len_.Observe(t.completion_tokens);
  std::lock_guard lock(mutex_);
  ++finished_[t.finish_reason.empty() ? "unknown" : t.finish_reason];
}

void ServerMetrics::CountResponse(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

std::string ServerMetrics::Render(const std::optional<EngineStats>& stats,
                                  const std::string& model) const {
  std::string out;
  const std::string labels = "{model_name=\"" + PrometheusLabel(model) + "\"}";
  Gauge(out, "xquant_server_ready", "1 once the model is loaded and requests are served", labels,
        stats ? 1 : 0);
  if (stats) {
    const EngineStats& s = *stats;
    Gauge(out, "xquant_requests_running", "Requests in the running batch", labels,
          s.running_requests);
    Gauge(out, "xquant_requests_waiting", "Requests queued for admission", labels,
          s.waiting_requests);
    Gauge(out, "xquant_sequences_running", "Sequences (n copies) in the running batch", labels,
          s.running_sequences);
    Gauge(out, "xquant_kv_blocks_total", "KV cache blocks in the pool", labels, s.kv_blocks_total);
    Gauge(out, "xquant_kv_blocks_used", "KV cache blocks held by running sequences", labels,
          s.kv_blocks_used);
    Gauge(out, "xquant_kv_blocks_cached", "Free KV blocks still holding a reusable prefix", labels,
          s.kv_blocks_cached);
    Gauge(out, "xquant_kv_cache_usage_ratio", "Used fraction of the KV blocks (0 to 1)", labels,
          s.kv_blocks_total > 0 ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0);
    Gauge(out, "xquant_kv_real_bits_per_element",
          "Stored KV bits per element, metadata and recent window included", labels,
          s.kv_real_bits_per_element);
    Gauge(out, "xquant_kv_equivalent_bits", "Paper-equivalent KV bits per element", labels,
          s.kv_equivalent_bits);
    Gauge(out, "xquant_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache",
          labels, static_cast<double>(s.prefix_cache_queries), "counter");
    Gauge(out, "xquant_prefix_cache_hits_total", "Prompt tokens served from the prefix cache",
          labels, static_cast<double>(s.prefix_cache_hits), "counter");
    Gauge(out, "xquant_preemptions_total", "Sequences preempted for lack of KV blocks", labels,
          static_cast<double>(s.preemptions), "counter");
    Gauge(out, "xquant_prompt_tokens_total", "Prompt tokens computed (recomputation included)",
          labels, static_cast<double>(s.prompt_tokens), "counter");
    Gauge(out, "xquant_generation_tokens_total", "Tokens generated", labels,
          static_cast<double>(s.generation_tokens), "counter");
    Gauge(out, "xquant_engine_steps_total", "Engine steps run", labels,
          static_cast<double>(s.steps), "counter");
    Gauge(out, "xquant_engine_failed_steps_total",
          "Engine steps the runner failed (their requests ended with an error)", labels,
          static_cast<double>(s.failed_steps), "counter");
  }
  ttft_.Render("xquant_time_to_first_token_seconds", "Time from arrival to the first token", out);
  tpot_.Render("xquant_time_per_output_token_seconds",
               "Mean time between output tokens after the first, per request", out);
  e2e_.Render("xquant_e2e_request_latency_seconds", "Time from arrival to the last token", out);
  prompt_len_.Render("xquant_request_prompt_tokens", "Prompt length of finished requests", out);
  output_len_.Render("xquant_request_generation_tokens", "Tokens generated per finished request",
                     out);
  std::lock_guard lock(mutex_);
  Header(out, "xquant_requests_finished_total", "counter", "Finished requests by finish reason");
  for (const auto& [reason, n] : finished_) {
    out += "xquant_requests_finished_total{finish_reason=\"" + PrometheusLabel(reason) + "\"} " +
           std::to_string(n) + "\n";
  }
  Header(out, "xquant_http_responses_total", "counter", "HTTP responses by status code");
  for (const auto& [status, n] : responses_) {
    out += "xquant_http_responses_total{status=\"" + std::to_string(status) + "\"} " +
           std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace xq
