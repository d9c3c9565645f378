// How many CPUs this process may really use: the CPUs it may run on (its affinity mask), capped
// by a cgroup CPU quota, which is what a container's --cpus or a Kubernetes CPU limit sets and
// what hardware_concurrency() ignores. Spinning more workers than the quota allows makes every
// barrier wait for a throttled peer.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace xq {

struct CpuBudget {
  int cpus = 1;        // what to run on: min(affinity, ceil(quota)), at least 1
  int affinity = 1;    // CPUs in the affinity mask
  std::optional<double> quota;  // the cgroup limit in CPUs, when there is one
};

// The cgroup CPU limit in CPUs for the process whose /proc/self/cgroup reads `self_cgroup`, under
// a cgroup filesystem mounted at `root`: cgroup v2's cpu.max along the process's cgroup and its
// ancestors (the tightest wins), or cgroup v1's cpu.cfs_quota_us / cpu.cfs_period_us. nullopt
// when unlimited or unreadable.
std::optional<double> CgroupCpuLimit(const std::filesystem::path& root,
                                     const std::string& self_cgroup);

// This process's budget, from sched_getaffinity, /proc/self/cgroup and /sys/fs/cgroup.
CpuBudget DetectCpuBudget();

}  // namespace xq
