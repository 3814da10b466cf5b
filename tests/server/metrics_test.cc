#include "server/metrics.h"

#include <gtest/gtest.h>

namespace qs::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.5);
  h.observe(5.0);
  std::string t = h.render("x_seconds", "help");
  EXPECT_TRUE(has_line(t, "# TYPE x_seconds histogram")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"0.10000000000000001\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"1\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"+Inf\"} 4")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_sum 6.0499999999999998")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_count 4")) << t;
  EXPECT_EQ(h.count(), 4u);
}

TEST(Metrics, BoundaryValueFallsInItsBucket) {
  Histogram h({1.0});
  h.observe(1.0);
  std::string t = h.render("y", "help");
  EXPECT_TRUE(has_line(t, "y_bucket{le=\"1\"} 1")) << t;
}

TEST(Metrics, RendersCountersAndEngineGauges) {
  Metrics m;
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 400);
  m.add_prompt_tokens(30);
  m.add_generation_tokens(7);
  m.count_cancelled();
  std::string loading = m.render(nullptr);
  EXPECT_TRUE(has_line(loading, "qwenserve_model_loaded 0")) << loading;
  EXPECT_EQ(loading.find("qwenserve_num_requests_running"), std::string::npos);

  engine::EngineSnapshot snap;
  snap.stats.num_waiting = 3;
  snap.stats.num_running = 2;
  snap.stats.kv.num_blocks = 100;
  snap.stats.kv.num_used_blocks = 25;
  snap.stats.kv.prefix_query_tokens = 400;
  snap.stats.kv.prefix_hit_tokens = 100;
  std::string t = m.render(&snap);
  EXPECT_TRUE(
      has_line(t, "qwenserve_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2"));
  EXPECT_TRUE(
      has_line(t, "qwenserve_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1"));
  EXPECT_TRUE(has_line(t, "qwenserve_prompt_tokens_total 30")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_generation_tokens_total 7")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_requests_cancelled_total 1")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_num_requests_waiting 3")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_num_requests_running 2")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_kv_blocks_used 25")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_prefix_cache_hits_total 100")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_prefix_cache_hit_rate 0.25")) << t;
  EXPECT_TRUE(has_line(t, "qwenserve_model_loaded 1")) << t;
}

}  // namespace
}  // namespace qs::server
