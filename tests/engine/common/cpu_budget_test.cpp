// The CPU budget under cgroup v1 and v2 quotas, read from fake cgroup filesystems shaped like
// a container's (cgroup namespace: the limit at the root) and a host's (nested groups).
#include "engine/common/cpu_budget.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace xq {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(CgroupCpuLimit, V2ContainerRootAndNestedGroupsTightestWins) {
  test::TempDir dir;
  const fs::path root = dir.path();
  Write(root / "cgroup.controllers", "cpuset cpu io memory pids\n");
  EXPECT_FALSE(CgroupCpuLimit(root, "0::/\n").has_value());  // no cpu.max: unlimited
  Write(root / "cpu.max", "max 100000\n");
  EXPECT_FALSE(CgroupCpuLimit(root, "0::/\n").has_value());
  Write(root / "cpu.max", "150000 100000\n");  // docker run --cpus 1.5
  EXPECT_DOUBLE_EQ(*CgroupCpuLimit(root, "0::/\n"), 1.5);

  Write(root / "cpu.max", "max 100000\n");
  Write(root / "kubepods.slice" / "cpu.max", "400000 100000\n");
  Write(root / "kubepods.slice" / "pod1" / "cpu.max", "50000 100000\n");
  Write(root / "kubepods.slice" / "pod1" / "ctr" / "cpu.max", "max 100000\n");
  EXPECT_DOUBLE_EQ(*CgroupCpuLimit(root, "0::/kubepods.slice/pod1/ctr\n"), 0.5);
  EXPECT_DOUBLE_EQ(*CgroupCpuLimit(root, "0::/kubepods.slice\n"), 4.0);
}

TEST(CgroupCpuLimit, V1QuotaAndPeriod) {
  test::TempDir dir;
  const fs::path root = dir.path();
  Write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n");
  Write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n");
  const std::string self = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n";
  EXPECT_FALSE(CgroupCpuLimit(root, self).has_value());
  // Inside the container the group is the mount itself; on the host it is below.
  Write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "200000\n");
  EXPECT_DOUBLE_EQ(*CgroupCpuLimit(root, self), 2.0);
  Write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "25000\n");
  Write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(*CgroupCpuLimit(root, self), 0.25);
}

TEST(CgroupCpuLimit, NothingReadableIsUnlimited) {
  test::TempDir dir;
  EXPECT_FALSE(CgroupCpuLimit(dir.path() / "missing", "garbage").has_value());
  Write(dir.path() / "cgroup.controllers", "");
  Write(dir.path() / "cpu.max", "nonsense\n");
  EXPECT_FALSE(CgroupCpuLimit(dir.path(), "0::/").has_value());
}

TEST(DetectCpuBudget, NeverMoreThanTheAffinityNorLessThanOne) {
  const CpuBudget b = DetectCpuBudget();
  EXPECT_GE(b.cpus, 1);
  EXPECT_LE(b.cpus, b.affinity);
  if (b.quota) {
    EXPECT_GE(b.cpus, std::min<double>(*b.quota - 1e-9, b.affinity));
  }
}

}  // namespace
}  // namespace xq
