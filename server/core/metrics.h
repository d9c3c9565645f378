// ServerMetrics: the Prometheus registry of the server: latency histograms and counters the
// frontends record, rendered in the text exposition format together with the engine's gauges.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace xq {

// A cumulative Prometheus histogram (thread-safe).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  // Appends the HELP/TYPE lines, the _bucket series (cumulative, ending in +Inf), _sum and _count.
  void Render(const std::string& name, const std::string& help, std::string& out) const;
  uint64_t count() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// What a frontend measured for one finished generation request.
struct RequestTiming {
  std::optional<double> ttft_s;  // absent when no token was produced
  double e2e_s = 0;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  std::string finish_reason;  // "stop", "length", "abort", "error"
};

class ServerMetrics {
 public:
  ServerMetrics();

  void ObserveRequest(const RequestTiming& timing);
  void CountResponse(int status);

  // `stats` is absent while the model loads.
  std::string Render(const std::optional<EngineStats>& stats, const std::string& model) const;

  const Histogram& ttft() const { return ttft_; }
  const Histogram& time_per_output_token() const { return tpot_; }
  const Histogram& e2e() const { return e2e_; }

 private:
  Histogram ttft_;
  Histogram tpot_;
  Histogram e2e_;
  Histogram prompt_len_;
  Histogram output_len_;
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> finished_;  // by finish reason
  std::map<int, uint64_t> responses_;         // by HTTP status
};

// Escapes a label value for the text format (backslash, quote, newline).
std::string PrometheusLabel(const std::string& value);

}  // namespace xq
