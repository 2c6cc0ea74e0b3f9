#include "metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vmig::metrics {
namespace {

TextWriter::LabelPairs Pairs(const std::vector<std::string>& names,
                             const Labels& values) {
  TextWriter::LabelPairs p;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i)
    p.emplace_back(names[i], values[i]);
  return p;
}

// The labels a sample is kept under: as given when they fit the family,
// else the overflow series.
template <typename Map>
Labels Admit(const Map& series, const std::vector<std::string>& names,
             const Labels& labels) {
  if (labels.size() == names.size() &&
      (series.size() < kMaxSeries || series.count(labels)))
    return labels;
  return Labels(names.size(), "other");
}

}  // namespace

CounterFamily::CounterFamily(Registry& registry, std::string name,
                             std::string help,
                             std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)) {
  registry.Register(this);
}

void CounterFamily::Add(const Labels& labels, double v) {
  if (!(v >= 0)) return;  // a counter only goes up (and NaN is no amount)
  absl::MutexLock lock(&mu_);
  series_[Admit(series_, label_names_, labels)] += v;
}

double CounterFamily::Value(const Labels& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second;
}

void CounterFamily::Render(TextWriter& w) const {
  w.Family(name_, Type::kCounter, help_);
  absl::MutexLock lock(&mu_);
  if (label_names_.empty() && series_.empty()) w.Sample(name_, {}, 0);
  for (const auto& [labels, v] : series_)
    w.Sample(name_, Pairs(label_names_, labels), v);
}

HistogramFamily::HistogramFamily(Registry& registry, std::string name,
                                 std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {
  registry.Register(this);
}

void HistogramFamily::Observe(const Labels& labels, double v) {
  if (std::isnan(v)) return;
  absl::MutexLock lock(&mu_);
  Series& s = series_[Admit(series_, label_names_, labels)];
  if (s.buckets.empty()) s.buckets.assign(bounds_.size(), 0);
  const size_t b = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  if (b < bounds_.size()) ++s.buckets[b];
  ++s.count;
  s.sum += v;
}

uint64_t HistogramFamily::Count(const Labels& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

void HistogramFamily::Render(TextWriter& w) const {
  w.Family(name_, Type::kHistogram, help_);
  absl::MutexLock lock(&mu_);
  auto render = [&](const Labels& labels, const Series& s) {
    TextWriter::LabelPairs base = Pairs(label_names_, labels);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += s.buckets.empty() ? 0 : s.buckets[i];
      TextWriter::LabelPairs l = base;
      l.emplace_back("le", FormatValue(bounds_[i]));
      w.Sample(name_ + "_bucket", l, static_cast<double>(cumulative));
    }
    TextWriter::LabelPairs inf = base;
    inf.emplace_back("le", "+Inf");
    w.Sample(name_ + "_bucket", inf, static_cast<double>(s.count));
    w.Sample(name_ + "_sum", base, s.sum);
    w.Sample(name_ + "_count", base, static_cast<double>(s.count));
  };
  // Without labels there is one series, shown from the start.
  if (label_names_.empty() && series_.empty()) render({}, Series{});
  for (const auto& [labels, s] : series_) render(labels, s);
}

void Registry::Register(const CounterFamily* f) {
  absl::MutexLock lock(&mu_);
  counters_.push_back(f);
}

void Registry::Register(const HistogramFamily* f) {
  absl::MutexLock lock(&mu_);
  histograms_.push_back(f);
}

Registry::CollectorHandle::~CollectorHandle() {
  absl::MutexLock lock(&r_->mu_);
  r_->collectors_.erase(id_);
}

std::unique_ptr<Registry::CollectorHandle> Registry::AddCollector(Collector c) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  collectors_[id] = std::move(c);
  return std::make_unique<CollectorHandle>(this, id);
}

std::string Registry::Render() const {
  TextWriter w;
  // Under mu_ so that a collector is not removed (and what it reads
  // destroyed) while it runs; collectors take their objects' own locks
  // briefly, never this one.
  absl::MutexLock lock(&mu_);
  for (const CounterFamily* f : counters_) f->Render(w);
  for (const HistogramFamily* f : histograms_) f->Render(w);
  for (const auto& [id, c] : collectors_) c(w);
  return w.text();
}

}  // namespace vmig::metrics
