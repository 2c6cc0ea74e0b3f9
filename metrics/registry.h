// vmigd's metrics in the Prometheus text exposition format (version 0.0.4):
// counter and histogram families that control-path code updates (a
// session's end, a peer call that failed), and collectors that read gauges
// and counters kept elsewhere (sessions, the data plane's per-worker
// counters) when the page is rendered. Nothing on a poll-mode core touches
// this: workers keep their own counters, read at scrape time.
//
// Debian 12 has no C++ Prometheus client library; the format is small and
// written here, and `promtool check metrics` checks it in the tests.
#ifndef VMIGD_METRICS_REGISTRY_H_
#define VMIGD_METRICS_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "metrics/text_writer.h"

namespace vmig::metrics {

// Label values of one series, in the family's label order.
using Labels = std::vector<std::string>;

// Series one family keeps at most: label values come from code (roles,
// outcomes, phases, method names, gRPC codes), but a bound keeps a bug or
// an unexpected value from growing the page without limit. Past it, samples
// go to one series whose every label is "other".
inline constexpr size_t kMaxSeries = 256;

class Registry;

class CounterFamily {
 public:
  // `name` ends in _total (Prometheus convention).
  CounterFamily(Registry& registry, std::string name, std::string help,
                std::vector<std::string> label_names);
  void Add(const Labels& labels, double v = 1);
  // The current value of one series (0 if never added to): for tests.
  double Value(const Labels& labels) const;
  void Render(TextWriter& w) const;

 private:
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  mutable absl::Mutex mu_;
  std::map<Labels, double> series_ ABSL_GUARDED_BY(mu_);
};

class HistogramFamily {
 public:
  // `bounds`: the buckets' upper bounds, ascending (+Inf is implied).
  HistogramFamily(Registry& registry, std::string name, std::string help,
                  std::vector<std::string> label_names,
                  std::vector<double> bounds);
  void Observe(const Labels& labels, double v);
  // Observations of one series so far: for tests.
  uint64_t Count(const Labels& labels) const;
  void Render(TextWriter& w) const;

 private:
  struct Series {
    std::vector<uint64_t> buckets;  // per bound, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::map<Labels, Series> series_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  // Families register themselves when they are built and must outlive the
  // registry's use (vmigd: DaemonMetrics, which lives as long as main).
  void Register(const CounterFamily* f);
  void Register(const HistogramFamily* f);
  // Called at every render, on the endpoint's thread; returns a handle that
  // removes it when destroyed (the collector reads objects it must not
  // outlive).
  using Collector = std::function<void(TextWriter&)>;
  class CollectorHandle {
   public:
    CollectorHandle(Registry* r, uint64_t id) : r_(r), id_(id) {}
    ~CollectorHandle();
    CollectorHandle(const CollectorHandle&) = delete;
    CollectorHandle& operator=(const CollectorHandle&) = delete;

   private:
    Registry* r_;
    uint64_t id_;
  };
  std::unique_ptr<CollectorHandle> AddCollector(Collector c);

  // The whole page.
  std::string Render() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<const CounterFamily*> counters_ ABSL_GUARDED_BY(mu_);
  std::vector<const HistogramFamily*> histograms_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Collector> collectors_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmig::metrics

#endif  // VMIGD_METRICS_REGISTRY_H_
