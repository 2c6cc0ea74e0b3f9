// The planner against the kernel's rules, derived independently of its table:
// the arcs the uAPI requires drivers to implement for each flag set, a BFS
// for the shortest path with saving-group states never interior, and the
// combination paths the kernel documents.
#include "vfio/fsm.h"

#include <map>
#include <queue>
#include <set>
#include <utility>

#include "gtest/gtest.h"

namespace vmig::vfio {
namespace {

using S = DeviceState;
using Arc = std::pair<S, S>;

const MigrationFlags kStopCopy(kMigStopCopy);
const MigrationFlags kP2P(kMigStopCopy | kMigP2P);
const MigrationFlags kPreCopy(kMigStopCopy | kMigPreCopy);
const MigrationFlags kAll(kMigStopCopy | kMigP2P | kMigPreCopy);
const MigrationFlags kFlagSets[] = {kStopCopy, kP2P, kPreCopy, kAll};

const S kAllStates[] = {S::kError,    S::kStop,      S::kRunning,
                        S::kStopCopy, S::kResuming,  S::kRunningP2P,
                        S::kPreCopy,  S::kPreCopyP2P};

// The arcs include/uapi/linux/vfio.h requires a driver to implement.
std::set<Arc> DriverArcs(MigrationFlags f) {
  std::set<Arc> arcs = {{S::kResuming, S::kStop},
                        {S::kStop, S::kResuming},
                        {S::kStop, S::kStopCopy},
                        {S::kStopCopy, S::kStop}};
  const bool p2p = f.has(kMigP2P), pre = f.has(kMigPreCopy);
  if (p2p) {
    arcs.insert({{S::kRunning, S::kRunningP2P},
                 {S::kRunningP2P, S::kRunning},
                 {S::kRunningP2P, S::kStop},
                 {S::kStop, S::kRunningP2P}});
  } else {
    arcs.insert({{S::kRunning, S::kStop}, {S::kStop, S::kRunning}});
  }
  if (pre && !p2p) {
    arcs.insert({{S::kRunning, S::kPreCopy},
                 {S::kPreCopy, S::kRunning},
                 {S::kPreCopy, S::kStopCopy}});
  }
  if (pre && p2p) {
    arcs.insert({{S::kPreCopy, S::kRunning},
                 {S::kPreCopy, S::kPreCopyP2P},
                 {S::kPreCopyP2P, S::kPreCopy},
                 {S::kPreCopyP2P, S::kRunningP2P},
                 {S::kPreCopyP2P, S::kStopCopy},
                 {S::kRunning, S::kPreCopy},
                 {S::kRunningP2P, S::kPreCopyP2P}});
  }
  return arcs;
}

bool SupportedByFlags(MigrationFlags f, S s) {
  switch (s) {
    case S::kError:
      return false;
    case S::kRunningP2P:
      return f.has(kMigP2P);
    case S::kPreCopy:
      return f.has(kMigPreCopy);
    case S::kPreCopyP2P:
      return f.has(kMigPreCopy) && f.has(kMigP2P);
    default:
      return true;
  }
}

// A saving-group state may sit inside a path only while the path has not
// left the group since its start: a path may move within the group (the
// session continues) but never leave it and come back (that would end one
// session and open another behind the caller's back).
bool InteriorAllowed(const std::vector<S>& path, size_t i) {
  for (size_t j = 0; j <= i; ++j) {
    if (!IsSavingState(path[j])) return false;
  }
  return true;
}

// Shortest distance from `from` to `to` over driver arcs under that rule;
// -1 if none. BFS over (state, still inside the starting saving group).
int ShortestDistance(MigrationFlags f, S from, S to) {
  const std::set<Arc> arcs = DriverArcs(f);
  using Node = std::pair<S, bool>;
  std::map<Node, int> dist;
  std::queue<Node> q;
  const Node start = {from, IsSavingState(from)};
  dist[start] = 0;
  q.push(start);
  while (!q.empty()) {
    const Node cur = q.front();
    q.pop();
    if (cur.first == to) return dist[cur];
    // A saving state reached after leaving the group may only end a path.
    if (cur.first != from && IsSavingState(cur.first) && !cur.second) continue;
    for (const Arc& a : arcs) {
      if (a.first != cur.first) continue;
      const Node next = {a.second, cur.second && IsSavingState(a.second)};
      if (!dist.count(next)) {
        dist[next] = dist[cur] + 1;
        q.push(next);
      }
    }
  }
  return -1;
}

TEST(FsmTest, EveryPairOfEveryFlagSetFollowsTheKernelRules) {
  int checked = 0;
  for (MigrationFlags f : kFlagSets) {
    const std::set<Arc> arcs = DriverArcs(f);
    for (S from : kAllStates) {
      for (S to : kAllStates) {
        SCOPED_TRACE(f.ToString() + ": " + std::string(DeviceStateName(from)) +
                     " -> " + std::string(DeviceStateName(to)));
        auto path = PlanPath(f, from, to);
        const bool blocked =
            from == S::kStopCopy && (to == S::kPreCopy || to == S::kPreCopyP2P);
        if (!SupportedByFlags(f, from) || !SupportedByFlags(f, to) || blocked) {
          EXPECT_FALSE(path.ok());
          EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
          continue;
        }
        ASSERT_TRUE(path.ok()) << path.status();
        ASSERT_EQ(path->front(), from);
        ASSERT_EQ(path->back(), to);
        for (size_t i = 0; i + 1 < path->size(); ++i) {
          EXPECT_TRUE(arcs.count({(*path)[i], (*path)[i + 1]}))
              << "not a driver arc: " << FormatPath(*path);
          if (i > 0 && IsSavingState((*path)[i])) {
            EXPECT_TRUE(InteriorAllowed(*path, i))
                << "re-enters the saving group: " << FormatPath(*path);
          }
        }
        EXPECT_EQ(static_cast<int>(path->size()) - 1,
                  ShortestDistance(f, from, to))
            << FormatPath(*path);
        ++checked;
      }
    }
  }
  // Supported states per flag set: 4, 5, 5, 7; minus the blocked pairs.
  EXPECT_EQ(checked, 16 + 25 + (25 - 1) + (49 - 2));
}

// The combination transitions the kernel documents for a device with every
// optional feature (vfio_mig_get_next_state's comment).
TEST(FsmTest, MatchesTheKernelsDocumentedCombinationPaths) {
  const std::vector<std::vector<S>> documented = {
      {S::kPreCopy, S::kPreCopyP2P, S::kStopCopy},
      {S::kPreCopy, S::kRunning, S::kRunningP2P},
      {S::kPreCopy, S::kRunning, S::kRunningP2P, S::kStop},
      {S::kPreCopy, S::kRunning, S::kRunningP2P, S::kStop, S::kResuming},
      {S::kPreCopyP2P, S::kRunningP2P, S::kRunning},
      {S::kPreCopyP2P, S::kRunningP2P, S::kStop},
      {S::kPreCopyP2P, S::kRunningP2P, S::kStop, S::kResuming},
      {S::kResuming, S::kStop, S::kRunningP2P},
      {S::kResuming, S::kStop, S::kRunningP2P, S::kPreCopyP2P},
      {S::kResuming, S::kStop, S::kRunningP2P, S::kRunning},
      {S::kResuming, S::kStop, S::kRunningP2P, S::kRunning, S::kPreCopy},
      {S::kResuming, S::kStop, S::kStopCopy},
      {S::kRunning, S::kRunningP2P, S::kPreCopyP2P},
      {S::kRunning, S::kRunningP2P, S::kStop},
      {S::kRunning, S::kRunningP2P, S::kStop, S::kResuming},
      {S::kRunning, S::kRunningP2P, S::kStop, S::kStopCopy},
      {S::kRunningP2P, S::kRunning, S::kPreCopy},
      {S::kRunningP2P, S::kStop, S::kResuming},
      {S::kRunningP2P, S::kStop, S::kStopCopy},
      {S::kStop, S::kRunningP2P, S::kPreCopyP2P},
      {S::kStop, S::kRunningP2P, S::kRunning},
      {S::kStop, S::kRunningP2P, S::kRunning, S::kPreCopy},
      {S::kStopCopy, S::kStop, S::kResuming},
      {S::kStopCopy, S::kStop, S::kRunningP2P},
      {S::kStopCopy, S::kStop, S::kRunningP2P, S::kRunning},
  };
  for (const auto& want : documented) {
    auto got = PlanPath(kAll, want.front(), want.back());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(FormatPath(*got), FormatPath(want));
  }
}

TEST(FsmTest, UnsupportedStepsAreSkippedByRereadingTheTable) {
  // Without P2P, RUNNING -> STOP is one arc.
  EXPECT_EQ(FormatPath(*PlanPath(kStopCopy, S::kRunning, S::kStop)),
            "RUNNING -> STOP");
  EXPECT_EQ(FormatPath(*PlanPath(kStopCopy, S::kRunning, S::kStopCopy)),
            "RUNNING -> STOP -> STOP_COPY");
  // Without P2P, PRE_COPY goes straight to STOP_COPY.
  EXPECT_EQ(FormatPath(*PlanPath(kPreCopy, S::kPreCopy, S::kStopCopy)),
            "PRE_COPY -> STOP_COPY");
  EXPECT_EQ(FormatPath(*PlanPath(kPreCopy, S::kStop, S::kPreCopy)),
            "STOP -> RUNNING -> PRE_COPY");
  auto next = NextState(kStopCopy, S::kStop, S::kRunning);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, S::kRunning);
}

TEST(FsmTest, RefusalsSayWhy) {
  auto blocked = PlanPath(kAll, S::kStopCopy, S::kPreCopy);
  ASSERT_FALSE(blocked.ok());
  EXPECT_NE(blocked.status().message().find("not permitted"),
            absl::string_view::npos);
  auto unsupported = PlanPath(kStopCopy, S::kRunning, S::kRunningP2P);
  ASSERT_FALSE(unsupported.ok());
  EXPECT_NE(unsupported.status().message().find("RUNNING_P2P"),
            absl::string_view::npos);
  EXPECT_FALSE(PlanPath(kAll, S::kError, S::kRunning).ok());
  EXPECT_FALSE(PlanPath(kAll, S::kRunning, S::kError).ok());
  EXPECT_FALSE(PlanPath(kAll, S::kError, S::kError).ok());
}

TEST(FsmTest, OnlyTheFourSessionOpeningArcsOpenSessions) {
  int opening = 0;
  for (S a : kAllStates) {
    for (S b : kAllStates) opening += ArcOpensDataSession(a, b);
  }
  EXPECT_EQ(opening, 4);
  EXPECT_TRUE(ArcOpensDataSession(S::kStop, S::kResuming));
  EXPECT_FALSE(ArcOpensDataSession(S::kPreCopyP2P, S::kStopCopy));
}

TEST(StateTest, NamesParseAndPrint) {
  for (S s : kAllStates) {
    auto parsed = ParseDeviceState(DeviceStateName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(*ParseDeviceState("pre_copy_p2p"), S::kPreCopyP2P);
  EXPECT_EQ(*ParseDeviceState("VFIO_DEVICE_STATE_RUNNING"), S::kRunning);
  EXPECT_FALSE(ParseDeviceState("RUNNING2").ok());
  EXPECT_EQ(static_cast<uint32_t>(S::kPreCopyP2P), 7u);
  EXPECT_FALSE(DeviceStateFromValue(8).has_value());
}

TEST(StateTest, FlagsParseAndPrint) {
  EXPECT_EQ(ParseMigrationFlags("STOP_COPY|P2P")->bits(), 3u);
  EXPECT_EQ(ParseMigrationFlags("stop_copy, pre_copy")->bits(), 5u);
  EXPECT_EQ(kAll.ToString(), "stop_copy|p2p|pre_copy");
  EXPECT_FALSE(ParseMigrationFlags("p2p,pre_copy").ok());  // no stop_copy
  EXPECT_FALSE(ParseMigrationFlags("stop_copy,dirty").ok());
  EXPECT_FALSE(MigrationFlags(0x9).valid());
}

}  // namespace
}  // namespace vmig::vfio
