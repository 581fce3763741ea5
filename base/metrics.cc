#include "base/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace base {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<const MetricFamily*> families;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry;  // never destroyed: families may outlive static destruction order
  return *registry;
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {  // the shortest text that reads back as v
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void AppendEscaped(std::string& out, const std::string& s, bool quote_too) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote_too) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// {a="x",b="y"} (with `extra` appended, e.g. le="0.5"); "" when there are no labels.
std::string LabelText(const std::vector<std::string>& names, const LabelValues& values,
                      const std::string& extra) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"";
    AppendEscaped(out, i < values.size() ? values[i] : std::string(), true);
    out += '"';
  }
  if (!extra.empty()) out += (out.empty() ? "{" : ",") + extra;
  if (!out.empty()) out += '}';
  return out;
}

}  // namespace

MetricFamily::MetricFamily(std::string name, Type type, std::string help,
                           std::vector<std::string> label_names, std::vector<double> buckets)
    : name_(std::move(name)),
      type_(type),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.families.push_back(this);
}

MetricFamily::~MetricFamily() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.families.erase(std::remove(r.families.begin(), r.families.end(), this), r.families.end());
}

void MetricFamily::Render(std::string& out) const {
  static constexpr const char* kTypes[] = {"counter", "gauge", "histogram"};
  out += "# HELP " + name_ + " ";
  AppendEscaped(out, help_, false);
  out += "\n# TYPE " + name_ + " " + kTypes[static_cast<int>(type_)] + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  if (series_.empty() && label_names_.empty() && type_ == Type::kCounter) {
    out += name_ + " 0\n";
    return;
  }
  for (const auto& [labels, s] : series_) {
    if (type_ != Type::kHistogram) {
      out += name_ + LabelText(label_names_, labels, "") + " " + FormatValue(s.value) + "\n";
      continue;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      cumulative += s.bucket_counts[i];
      out += name_ + "_bucket" + LabelText(label_names_, labels, "le=\"" + FormatValue(buckets_[i]) + "\"") +
             " " + std::to_string(cumulative) + "\n";
    }
    out += name_ + "_bucket" + LabelText(label_names_, labels, "le=\"+Inf\"") + " " +
           std::to_string(s.count) + "\n";
    out += name_ + "_sum" + LabelText(label_names_, labels, "") + " " + FormatValue(s.sum) + "\n";
    out += name_ + "_count" + LabelText(label_names_, labels, "") + " " + std::to_string(s.count) + "\n";
  }
}

void Counter::Add(const LabelValues& labels, double delta) const {
  if (!(delta >= 0)) return;  // a counter never goes down
  With(labels, [&](Series& s) { s.value += delta; });
}

double Counter::Value(const LabelValues& labels) const {
  double v = 0;
  Peek(labels, [&](const Series& s) { v = s.value; });
  return v;
}

void Gauge::Set(const LabelValues& labels, double value) const {
  With(labels, [&](Series& s) { s.value = value; });
}

double Gauge::Value(const LabelValues& labels) const {
  double v = 0;
  Peek(labels, [&](const Series& s) { v = s.value; });
  return v;
}

void Histogram::Observe(const LabelValues& labels, double value) const {
  With(labels, [&](Series& s) {
    const auto& b = buckets();
    const size_t i = std::lower_bound(b.begin(), b.end(), value) - b.begin();
    if (i < b.size()) ++s.bucket_counts[i];
    s.sum += value;
    ++s.count;
  });
}

uint64_t Histogram::Count(const LabelValues& labels) const {
  uint64_t n = 0;
  Peek(labels, [&](const Series& s) { n = s.count; });
  return n;
}

std::string RenderMetrics() {
  Registry& r = TheRegistry();
  std::vector<const MetricFamily*> families;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    families = r.families;
  }
  std::sort(families.begin(), families.end(),
            [](const MetricFamily* a, const MetricFamily* b) { return a->name() < b->name(); });
  std::string out;
  for (const MetricFamily* f : families) f->Render(out);
  return out;
}

}  // namespace base
