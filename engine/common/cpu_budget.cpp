#include "engine/common/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace xq {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "max 100000" (unlimited) or "150000 100000" (1.5 CPUs).
std::optional<double> ParseCpuMax(const std::string& text) {
  std::istringstream in(text);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  try {
    const double q = std::stod(quota);
    return q > 0 ? std::optional<double>(q / period) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The cgroup v2 path ("0::/a/b") or the v1 cpu controller's ("3:cpu,cpuacct:/a/b") of the
// process; empty when absent.
std::string CgroupPath(const std::string& self_cgroup, bool v2) {
  std::istringstream lines(self_cgroup);
  for (std::string line; std::getline(lines, line);) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (v2 && line.substr(0, a) == "0" && controllers.empty()) return path;
    if (!v2) {
      std::istringstream names(controllers);
      for (std::string name; std::getline(names, name, ',');) {
        if (name == "cpu") return path;
      }
    }
  }
  return "";
}

void Tighten(std::optional<double>& limit, std::optional<double> other) {
  if (other && (!limit || *other < *limit)) limit = other;
}

}  // namespace

std::optional<double> CgroupCpuLimit(const std::filesystem::path& root,
                                     const std::string& self_cgroup) {
  namespace fs = std::filesystem;
  std::optional<double> limit;
  // v2: the process's own cgroup and every ancestor below the mount (inside a container's
  // cgroup namespace the path is "/" and the container's limit is at the root).
  if (fs::exists(root / "cgroup.controllers")) {
    fs::path dir = root;
    Tighten(limit, ParseCpuMax(ReadFile(dir / "cpu.max")));
    for (const fs::path& part : fs::path(CgroupPath(self_cgroup, true)).relative_path()) {
      dir /= part;
      Tighten(limit, ParseCpuMax(ReadFile(dir / "cpu.max")));
    }
    return limit;
  }
  // v1: the cpu controller's hierarchy; a container sees its own group at the mount.
  for (const char* mount : {"cpu", "cpu,cpuacct", "cpuacct,cpu"}) {
    const fs::path base = root / mount;
    if (!fs::exists(base)) continue;
    for (const fs::path& dir : {base / fs::path(CgroupPath(self_cgroup, false)).relative_path(),
                                base}) {
      // cpu.cfs_quota_us is -1 when unlimited.
      Tighten(limit, ParseCpuMax(ReadFile(dir / "cpu.cfs_quota_us") + " " +
                                 ReadFile(dir / "cpu.cfs_period_us")));
    }
    return limit;
  }
  return limit;
}

CpuBudget DetectCpuBudget() {
  CpuBudget b;
  cpu_set_t set;
  CPU_ZERO(&set);
  b.affinity = sched_getaffinity(0, sizeof set, &set) == 0
                   ? CPU_COUNT(&set)
                   : static_cast<int>(std::thread::hardware_concurrency());
  b.affinity = std::max(b.affinity, 1);
  b.quota = CgroupCpuLimit("/sys/fs/cgroup", ReadFile("/proc/self/cgroup"));
  b.cpus = b.affinity;
  if (b.quota) b.cpus = std::clamp(static_cast<int>(std::ceil(*b.quota - 1e-9)), 1, b.affinity);
  return b;
}

}  // namespace xq
