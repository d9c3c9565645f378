#include "server/core/request_id.h"

#include <cstdio>
#include <random>

namespace xq {

std::string NewRequestId() {
  // One generator per thread: no lock on the request path, and seeded apart from each other.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace xq
