// The metrics library: the text format's escaping and values, histograms'
// cumulative buckets, the bound on series, collectors that come and go, and
// the HTTP endpoint's answers (a page, 404 elsewhere, 405 for writes, a
// refused address named).
#include "metrics/registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "metrics/http_endpoint.h"
#include "metrics/text_writer.h"

namespace vmig::metrics {
namespace {

TEST(MetricsTextTest, LabelValuesAreEscapedAndValuesSpelledAsTheFormatWants) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  TextWriter w;
  w.Family("x_total", Type::kCounter, "line one\nline two \\ end");
  w.Sample("x_total", {{"session", "we\"ird"}}, 2);
  EXPECT_EQ(w.text(),
            "# HELP x_total line one\\nline two \\\\ end\n"
            "# TYPE x_total counter\n"
            "x_total{session=\"we\\\"ird\"} 2\n");
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry r;
  HistogramFamily h(r, "t_seconds", "test", {"role"}, {0.1, 1});
  h.Observe({"source"}, 0.05);
  h.Observe({"source"}, 0.5);
  h.Observe({"source"}, 7);
  h.Observe({"source"}, std::nan(""));  // not an observation
  const std::string page = r.Render();
  EXPECT_TRUE(absl::StrContains(
      page, "t_seconds_bucket{role=\"source\",le=\"0.1\"} 1\n"))
      << page;
  EXPECT_TRUE(
      absl::StrContains(page, "t_seconds_bucket{role=\"source\",le=\"1\"} 2\n"))
      << page;
  EXPECT_TRUE(absl::StrContains(
      page, "t_seconds_bucket{role=\"source\",le=\"+Inf\"} 3\n"))
      << page;
  EXPECT_TRUE(absl::StrContains(page, "t_seconds_sum{role=\"source\"} 7.55"))
      << page;
  EXPECT_TRUE(absl::StrContains(page, "t_seconds_count{role=\"source\"} 3\n"))
      << page;
  EXPECT_EQ(h.Count({"source"}), 3u);
}

TEST(MetricsRegistryTest, CountersOnlyGoUpAndSeriesAreBounded) {
  Registry r;
  CounterFamily c(r, "c_total", "test", {"code"});
  c.Add({"a"}, 2);
  c.Add({"a"}, -5);  // ignored: a counter never goes down
  c.Add({"a"}, std::nan(""));
  EXPECT_EQ(c.Value({"a"}), 2);
  for (size_t i = 0; i < kMaxSeries + 10; ++i) c.Add({absl::StrCat("v", i)});
  // Past the bound, the rest share one series.
  EXPECT_EQ(c.Value({"other"}), 11);
  EXPECT_EQ(c.Value({absl::StrCat("v", kMaxSeries + 5)}), 0);
  // Wrong label arity also goes there, not into a malformed series.
  c.Add({"x", "y"});
  EXPECT_EQ(c.Value({"other"}), 12);
}

TEST(MetricsRegistryTest, ACollectorRunsUntilItsHandleGoes) {
  Registry r;
  int runs = 0;
  {
    auto handle = r.AddCollector([&runs](TextWriter& w) {
      ++runs;
      w.Family("g", Type::kGauge, "test");
      w.Sample("g", {}, 1);
    });
    EXPECT_TRUE(absl::StrContains(r.Render(), "\ng 1\n"));
  }
  EXPECT_FALSE(absl::StrContains(r.Render(), "\ng 1\n"));
  EXPECT_EQ(runs, 1);
}

// A raw HTTP/1.0 exchange with 127.0.0.1:port; the whole answer.
std::string Http(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      write(fd, request.data(), request.size()) ==
          static_cast<ssize_t>(request.size())) {
    timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  }
  close(fd);
  return out;
}

TEST(MetricsEndpointTest, ServesThePageAtMetricsAndNothingElse) {
  auto e = HttpEndpoint::Start("127.0.0.1:0", [] { return "m 1\n"; });
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_GT((*e)->port(), 0);
  const std::string ok = Http((*e)->port(), "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(ok, "HTTP/1.0 200") ||
              absl::StartsWith(ok, "HTTP/1.1 200"))
      << ok;
  EXPECT_TRUE(absl::StrContains(ok, "text/plain; version=0.0.4")) << ok;
  EXPECT_TRUE(absl::EndsWith(ok, "\r\n\r\nm 1\n")) << ok;
  EXPECT_TRUE(absl::StrContains(
      Http((*e)->port(), "GET /other HTTP/1.0\r\n\r\n"), " 404 "));
  EXPECT_TRUE(absl::StrContains(
      Http((*e)->port(),
           "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"),
      " 405 "));
}

TEST(MetricsEndpointTest, AnAddressInUseOrMalformedIsNamed) {
  auto first = HttpEndpoint::Start("127.0.0.1:0", [] { return ""; });
  ASSERT_TRUE(first.ok());
  auto again = HttpEndpoint::Start(absl::StrCat("127.0.0.1:", (*first)->port()),
                                   [] { return ""; });
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::StrContains(again.status().message(), "cannot listen"))
      << again.status();
  EXPECT_NE(CheckListenAddress("localhost:9464"), "");  // not numeric
  EXPECT_NE(CheckListenAddress("127.0.0.1"), "");       // no port
  EXPECT_NE(CheckListenAddress("127.0.0.1:70000"), "");
  EXPECT_EQ(CheckListenAddress("[::1]:9464"), "");
  EXPECT_EQ(CheckListenAddress("0.0.0.0:9464"), "");
}

}  // namespace
}  // namespace vmig::metrics
