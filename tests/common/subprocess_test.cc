#include "common/subprocess.h"

#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmig {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(DescribeThreadsTest, NamesAHungChildsThreadAndWhereItWaits) {
  const pid_t pid = Spawn({"/bin/sleep", "30"}, {}, "/dev/null", "/dev/null");
  ASSERT_GT(pid, 0);
  // Until it is sleeping (exec done, the nanosleep entered).
  std::string where;
  for (int i = 0; i < 200; ++i) {
    where = DescribeThreads(pid);
    if (where.find(" sleep S in ") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(where, StartsWith(absl::StrCat(pid, " sleep S in ")));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(WaitExit(pid, 10), 128 + SIGKILL);
  EXPECT_EQ(DescribeThreads(pid), "") << "a reaped child has no threads";
}

}  // namespace
}  // namespace vmig
