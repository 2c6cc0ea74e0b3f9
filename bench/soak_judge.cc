#include "bench/soak_judge.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/sweep_point.h"

namespace vmig::bench {
namespace {

void Violation(SoakTally& t, SoakRecord& r, int& counter,
               const std::string& what) {
  ++counter;
  r.verdict = what;
  if (t.violations.size() < 20)
    t.violations.push_back(
        absl::StrCat("#", r.index, " (", r.fault, "): ", what));
}

template <typename F>
double Median(const std::vector<const ResourceSample*>& v, F field) {
  std::vector<double> x;
  for (const auto* s : v) x.push_back(static_cast<double>(field(s->r)));
  return Quantile(std::move(x), 0.5);
}

ProcessResources Medians(const std::vector<const ResourceSample*>& v) {
  ProcessResources m;
  m.rss_bytes = static_cast<uint64_t>(
      Median(v, [](const ProcessResources& r) { return r.rss_bytes; }));
  m.threads = static_cast<int>(
      Median(v, [](const ProcessResources& r) { return r.threads; }));
  m.fds = static_cast<int>(
      Median(v, [](const ProcessResources& r) { return r.fds; }));
  m.mappings = static_cast<int>(
      Median(v, [](const ProcessResources& r) { return r.mappings; }));
  return m;
}

nlohmann::json ResourcesJson(const ProcessResources& r) {
  return {{"rss_bytes", r.rss_bytes},
          {"threads", r.threads},
          {"fds", r.fds},
          {"mappings", r.mappings}};
}

}  // namespace

void Judge(bool fault_drawn, SoakRecord& r, SoakTally& t) {
  ++t.migrations;
  const std::string outcome = !r.error.empty() ? "ERROR"
                              : r.completed    ? "COMPLETED"
                                               : r.phase;
  ++t.by_fault[r.fault][outcome];
  if (!r.error.empty()) {
    Violation(t, r, t.errors, "could not run: " + r.error.substr(0, 200));
  } else if (r.completed) {
    if (r.verified) {
      ++t.verified;
      r.verdict = "verified";
    } else {
      Violation(t, r, t.unverified, "COMPLETED but the digests differ");
    }
  } else if (r.committed) {
    if (!r.source_stopped) {
      Violation(t, r, t.not_intact,
                "committed, yet a source device runs: on two hosts");
    } else if (!r.may_fail_after_commit) {
      Violation(t, r, t.unexplained,
                "failed after the commit with no fault that may: " +
                    r.why.substr(0, 200));
    } else {
      ++t.committed_failed;
      r.verdict =
          "failed after the commit, the destination owns the state, "
          "the source stopped: " +
          r.why.substr(0, 100);
    }
  } else if (!r.source_intact) {
    Violation(t, r, t.not_intact,
              "ended " + r.phase +
                  " with a source device not RUNNING or changed: " +
                  r.why.substr(0, 200));
  } else if (!fault_drawn) {
    Violation(t, r, t.unexplained,
              "rolled back with no fault drawn: " + r.why.substr(0, 200));
  } else {
    ++t.rolled_back;
    r.verdict = "rolled back, source intact: " + r.why.substr(0, 120);
  }
  if (!r.left_over.empty()) {
    Violation(t, r, t.left_over,
              "still attached: " + absl::StrJoin(r.left_over, ", "));
  }
}

std::string SoakTally::Summary() const {
  return absl::StrFormat(
      "%d migrations: %d verified, %d rolled back intact, %d failed after "
      "the commit as drawn; violations: %d "
      "unverified, %d sources not intact, %d devices left attached, %d "
      "unexplained failures, %d errors",
      migrations, verified, rolled_back, committed_failed, unverified,
      not_intact, left_over, unexplained, errors);
}

nlohmann::json SoakTally::ToJson() const {
  return {{"migrations", migrations},   {"verified", verified},
          {"rolled_back", rolled_back}, {"committed_failed", committed_failed},
          {"unverified", unverified},   {"not_intact", not_intact},
          {"left_over", left_over},     {"unexplained", unexplained},
          {"errors", errors},           {"by_fault", by_fault},
          {"violations", violations}};
}

nlohmann::json FlatnessVerdict::ToJson() const {
  return {{"daemon", daemon},
          {"judged", judged},
          {"flat", flat},
          {"samples", samples},
          {"early", ResourcesJson(early)},
          {"late", ResourcesJson(late)},
          {"rss_mib_series", rss_series}};
}

std::vector<FlatnessVerdict> JudgeFlatness(
    const std::vector<ResourceSample>& samples) {
  std::vector<FlatnessVerdict> out;
  for (int daemon : {0, 1}) {
    std::map<int, std::vector<const ResourceSample*>> by_generation;
    for (const ResourceSample& s : samples)
      if (s.daemon == daemon) by_generation[s.generation].push_back(&s);
    std::vector<const ResourceSample*> longest;
    for (auto& [g, v] : by_generation)
      if (v.size() > longest.size()) longest = v;
    FlatnessVerdict v;
    v.daemon = daemon == 0 ? "source" : "destination";
    v.samples = static_cast<int>(longest.size());
    if (longest.size() < 80) {
      v.line = absl::StrCat(v.daemon, ": not judged (", longest.size(),
                            " migrations without a restart; 80 needed)");
      out.push_back(v);
      continue;
    }
    for (size_t i = 0; i < longest.size(); i += 10) {
      v.rss_series.emplace_back(longest[i]->migration,
                                longest[i]->r.rss_bytes / 1048576.0,
                                longest[i]->r.rss_anon_bytes / 1048576.0);
    }
    v.judged = true;
    const size_t mid = longest.size() / 2;
    v.early =
        Medians({longest.begin() + (mid - 10), longest.begin() + (mid + 10)});
    v.late = Medians({longest.end() - 20, longest.end()});
    const uint64_t rss_slack =
        std::max<uint64_t>(2ull << 20, v.early.rss_bytes / 50);
    v.flat = v.late.rss_bytes <= v.early.rss_bytes + rss_slack &&
             v.late.threads <= v.early.threads + 2 &&
             v.late.fds <= v.early.fds + 4 &&
             v.late.mappings <= v.early.mappings + 16;
    v.line = absl::StrFormat(
        "%s over %d migrations, medians at mid-life -> last 20: RSS %.1f -> "
        "%.1f MiB, threads %d -> %d, fds %d -> %d, mappings %d -> %d: %s",
        v.daemon, v.samples, v.early.rss_bytes / 1048576.0,
        v.late.rss_bytes / 1048576.0, v.early.threads, v.late.threads,
        v.early.fds, v.late.fds, v.early.mappings, v.late.mappings,
        v.flat ? "flat" : "GROWING");
    out.push_back(v);
  }
  return out;
}

}  // namespace vmig::bench
