// Process-wide counters, gauges and histograms, rendered in the Prometheus
// text format (version 0.0.4) by the web listener's /metrics.
//
// A metric family is an object with a name, a help text and label names,
// defined where it is counted (at namespace scope in a .cc file, or a
// function-local static) and registered in the process's registry when
// constructed; each distinct tuple of label values is one series. Families
// are rendered sorted by name, series sorted by label values; a family with
// no series yet shows only its HELP and TYPE (a counter without labels shows 0).
//
//   const base::Counter kPosted{"mailforum_posts_total", "Posts written.", {"mailbox"}};
//   kPosted.Add({"help"});
//
// Label values are escaped (\\, \", \n); names are the caller's constants.
// Thread-safety: every method may be called from any thread.
#ifndef MAILFORUM_BASE_METRICS_H_
#define MAILFORUM_BASE_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace base {

using LabelValues = std::vector<std::string>;

class MetricFamily {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  MetricFamily(std::string name, Type type, std::string help, std::vector<std::string> label_names,
               std::vector<double> buckets = {});
  ~MetricFamily();
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  const std::string& name() const { return name_; }
  // This family's HELP, TYPE and series lines.
  void Render(std::string& out) const;

 protected:
  struct Series {
    double value = 0;                     // counter, gauge
    std::vector<uint64_t> bucket_counts;  // histogram: per upper bound (not cumulative)
    double sum = 0;
    uint64_t count = 0;
  };
  // Runs `f` on the series of `labels` (created on first use) under the lock.
  template <typename F>
  void With(const LabelValues& labels, F f) const {
    std::lock_guard<std::mutex> lock(mutex_);
    Series& s = series_[labels];
    if (s.bucket_counts.size() != buckets_.size()) s.bucket_counts.resize(buckets_.size());
    f(s);
  }
  // Runs `f` on the series of `labels` if it exists, under the lock.
  template <typename F>
  void Peek(const LabelValues& labels, F f) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = series_.find(labels);
    if (it != series_.end()) f(it->second);
  }
  const std::vector<double>& buckets() const { return buckets_; }

 private:
  std::string name_;
  Type type_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;  // ascending upper bounds, +Inf implied
  mutable std::mutex mutex_;
  mutable std::map<LabelValues, Series> series_;
};

// Only goes up.
class Counter : public MetricFamily {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names = {})
      : MetricFamily(std::move(name), Type::kCounter, std::move(help), std::move(label_names)) {}
  void Add(const LabelValues& labels = {}, double delta = 1) const;
  double Value(const LabelValues& labels = {}) const;
};

class Gauge : public MetricFamily {
 public:
  Gauge(std::string name, std::string help, std::vector<std::string> label_names = {})
      : MetricFamily(std::move(name), Type::kGauge, std::move(help), std::move(label_names)) {}
  void Set(const LabelValues& labels, double value) const;
  double Value(const LabelValues& labels = {}) const;
};

class Histogram : public MetricFamily {
 public:
  // `buckets`: ascending upper bounds (seconds for durations).
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> buckets)
      : MetricFamily(std::move(name), Type::kHistogram, std::move(help), std::move(label_names),
                     std::move(buckets)) {}
  void Observe(const LabelValues& labels, double value) const;
  uint64_t Count(const LabelValues& labels = {}) const;
};

// Every family alive in this process, in the Prometheus text format.
std::string RenderMetrics();

}  // namespace base

#endif  // MAILFORUM_BASE_METRICS_H_
