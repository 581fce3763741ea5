#include "base/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace base {
namespace {

std::string Rendered(const MetricFamily& f) {
  std::string out;
  f.Render(out);
  return out;
}

TEST(Metrics, CounterWithLabelsRendersEachSeriesSorted) {
  Counter c("t_messages_total", "Messages decided.", {"mailbox", "outcome"});
  c.Add({"help", "posted"});
  c.Add({"help", "posted"}, 2);
  c.Add({"a\"b\\c\nd", "ignored"});
  c.Add({"help", "posted"}, -5);  // ignored: counters only go up
  EXPECT_EQ(c.Value({"help", "posted"}), 3);
  EXPECT_EQ(Rendered(c),
            "# HELP t_messages_total Messages decided.\n"
            "# TYPE t_messages_total counter\n"
            "t_messages_total{mailbox=\"a\\\"b\\\\c\\nd\",outcome=\"ignored\"} 1\n"
            "t_messages_total{mailbox=\"help\",outcome=\"posted\"} 3\n");
}

TEST(Metrics, CounterWithoutLabelsShowsZeroBeforeItsFirstAdd) {
  Counter c("t_reconnects_total", "Reconnects.");
  EXPECT_EQ(
      Rendered(c),
      "# HELP t_reconnects_total Reconnects.\n# TYPE t_reconnects_total counter\nt_reconnects_total 0\n");
  EXPECT_EQ(c.Value(), 0);
}

TEST(Metrics, GaugeIsSet) {
  Gauge g("t_idle", "1 while in IDLE.", {"mailbox"});
  g.Set({"help"}, 1);
  g.Set({"help"}, 0);
  g.Set({"sales"}, 1);
  EXPECT_EQ(Rendered(g),
            "# HELP t_idle 1 while in IDLE.\n# TYPE t_idle gauge\nt_idle{mailbox=\"help\"} "
            "0\nt_idle{mailbox=\"sales\"} 1\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Histogram h("t_seconds", "Latency.", {"mailbox"}, {0.01, 0.1, 1});
  h.Observe({"help"}, 0.005);
  h.Observe({"help"}, 0.01);  // on the bound: le is inclusive
  h.Observe({"help"}, 0.5);
  h.Observe({"help"}, 7);
  EXPECT_EQ(h.Count({"help"}), 4u);
  EXPECT_EQ(h.Count({"other"}), 0u);
  EXPECT_EQ(Rendered(h),
            "# HELP t_seconds Latency.\n# TYPE t_seconds histogram\n"
            "t_seconds_bucket{mailbox=\"help\",le=\"0.01\"} 2\n"
            "t_seconds_bucket{mailbox=\"help\",le=\"0.1\"} 2\n"
            "t_seconds_bucket{mailbox=\"help\",le=\"1\"} 3\n"
            "t_seconds_bucket{mailbox=\"help\",le=\"+Inf\"} 4\n"
            "t_seconds_sum{mailbox=\"help\"} 7.515\n"
            "t_seconds_count{mailbox=\"help\"} 4\n");
}

TEST(Metrics, RenderMetricsHasEveryLiveFamilySortedByName) {
  Counter b("t_b_total", "B.");
  Counter a("t_a_total", "A.");
  std::string all = RenderMetrics();
  auto pa = all.find("# HELP t_a_total");
  auto pb = all.find("# HELP t_b_total");
  ASSERT_NE(pa, std::string::npos);
  ASSERT_NE(pb, std::string::npos);
  EXPECT_LT(pa, pb);
  { Counter gone("t_gone_total", "Gone."); }
  EXPECT_EQ(RenderMetrics().find("t_gone_total"), std::string::npos);
}

TEST(Metrics, ConcurrentAddsAreAllCounted) {
  Counter c("t_concurrent_total", "C.", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Add({"x"});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value({"x"}), 40000);
}

}  // namespace
}  // namespace base
