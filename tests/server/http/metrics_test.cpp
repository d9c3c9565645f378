// The Prometheus registry: cumulative histogram buckets, time per output token, and the
// engine's gauges in the text exposition format.
#include "server/core/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace xq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Histogram, BucketsAreCumulative) {
  Histogram h({0.1, 1.0});
  h.Observe(0.05);
  h.Observe(0.1);  // upper bounds are inclusive
  h.Observe(0.5);
  h.Observe(7.0);
  std::string out;
  h.Render("x_seconds", "help", out);
  EXPECT_THAT(out, HasSubstr("# TYPE x_seconds histogram\n"));
  EXPECT_THAT(out, HasSubstr("x_seconds_bucket{le=\"0.10000000000000001\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("x_seconds_bucket{le=\"1\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("x_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(out, HasSubstr("x_seconds_sum 7.6500000000000004\n"));
  EXPECT_THAT(out, HasSubstr("x_seconds_count 4\n"));
  EXPECT_EQ(h.count(), 4u);
}

TEST(ServerMetrics, RequestTimings) {
  ServerMetrics m;
  RequestTiming t;
  t.ttft_s = 0.5;
  t.e2e_s = 2.5;
  t.prompt_tokens = 10;
  t.completion_tokens = 5;
  t.finish_reason = "length";
  m.ObserveRequest(t);
  RequestTiming aborted;
  aborted.e2e_s = 0.1;
  aborted.finish_reason = "abort";
  m.ObserveRequest(aborted);
  EXPECT_EQ(m.ttft().count(), 1u);  // no first token, no TTFT
  EXPECT_EQ(m.time_per_output_token().count(), 1u);
  EXPECT_EQ(m.e2e().count(), 2u);
  const std::string out = m.Render(std::nullopt, "tiny");
  // (2.5 - 0.5) / (5 - 1) = 0.5 s per token after the first.
  EXPECT_THAT(out, HasSubstr("xquant_time_per_output_token_seconds_sum 0.5\n"));
  EXPECT_THAT(out, HasSubstr("xquant_requests_finished_total{finish_reason=\"length\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("xquant_requests_finished_total{finish_reason=\"abort\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("xquant_server_ready{model_name=\"tiny\"} 0\n"));
  EXPECT_THAT(out, Not(HasSubstr("xquant_kv_blocks_total")));  // no engine while loading
}

TEST(ServerMetrics, EngineGauges) {
  ServerMetrics m;
  m.CountResponse(200);
  m.CountResponse(200);
  m.CountResponse(429);
  EngineStats s;
  s.running_requests = 3;
  s.waiting_requests = 2;
  s.kv_blocks_total = 40;
  s.kv_blocks_used = 10;
  s.kv_real_bits_per_element = 2.25;
  s.prefix_cache_queries = 100;
  s.prefix_cache_hits = 64;
  s.preemptions = 7;
  s.generation_tokens = 99;
  const std::string out = m.Render(s, "a\"b");
  const std::string l = "{model_name=\"a\\\"b\"}";
  EXPECT_THAT(out, HasSubstr("xquant_requests_running" + l + " 3\n"));
  EXPECT_THAT(out, HasSubstr("xquant_requests_waiting" + l + " 2\n"));
  EXPECT_THAT(out, HasSubstr("xquant_kv_blocks_used" + l + " 10\n"));
  EXPECT_THAT(out, HasSubstr("xquant_kv_blocks_total" + l + " 40\n"));
  EXPECT_THAT(out, HasSubstr("xquant_kv_cache_usage_ratio" + l + " 0.25\n"));
  EXPECT_THAT(out, HasSubstr("xquant_kv_real_bits_per_element" + l + " 2.25\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE xquant_prefix_cache_hits_total counter\n"));
  EXPECT_THAT(out, HasSubstr("xquant_prefix_cache_hits_total" + l + " 64\n"));
  EXPECT_THAT(out, HasSubstr("xquant_preemptions_total" + l + " 7\n"));
  EXPECT_THAT(out, HasSubstr("xquant_generation_tokens_total" + l + " 99\n"));
  EXPECT_THAT(out, HasSubstr("xquant_http_responses_total{status=\"200\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("xquant_http_responses_total{status=\"429\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE xquant_time_to_first_token_seconds histogram\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE xquant_e2e_request_latency_seconds histogram\n"));
}

}  // namespace
}  // namespace xq
