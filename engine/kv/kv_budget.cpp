#include "engine/kv/kv_budget.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <string>

#include "engine/common/error.h"
#include "engine/kv/kv_profile.h"

namespace xq {
namespace {

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr uint64_t kMaxFracScale = 1'000'000'000'000'000'000ULL;

std::string Quoted(std::string_view s) {
  std::string out(1, '\'');
  out.append(s);
  out += '\'';
  return out;
}

// 0 for an unknown unit.
int64_t UnitMultiplier(std::string unit) {
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (unit.empty() || unit == "b") return 1;
  static constexpr std::string_view kPrefixes = "kmgt";
  const size_t power = kPrefixes.find(unit[0]);
  if (power == std::string_view::npos) return 0;
  const std::string rest = unit.substr(1);
  int64_t base;
  if (rest.empty() || rest == "ib" || rest == "i") {
    base = 1024;
  } else if (rest == "b") {
    base = 1000;
  } else {
    return 0;
  }
  int64_t m = 1;
  for (size_t i = 0; i <= power; ++i) m *= base;
  return m;
}

// a * b, throwing when it does not fit.
int64_t CheckedMul(int64_t a, int64_t b, const char* what) {
  int64_t out;
  if (__builtin_mul_overflow(a, b, &out)) {
    throw Error(std::string("--kv-cache-memory: ") + what + " overflows 64 bits");
  }
  return out;
}

}  // namespace

int64_t WindowPages(int64_t rows, int64_t block_tokens, int64_t pages_per_block) {
  if (rows <= 0) return 0;
  return CheckedMul((rows + block_tokens - 1) / block_tokens, pages_per_block, "window pages");
}

KvBudget PlanKvBudget(const KvBudgetRequest& r) {
  const std::pair<const char*, int64_t> fields[] = {
      {"total_bytes", r.total_bytes},
      {"block_bytes", r.block_bytes},
      {"block_tokens", r.block_tokens},
      {"window_pages_per_block", r.window_pages_per_block},
      {"max_chunk_tokens", r.max_chunk_tokens}};
  for (const auto& [name, value] : fields) {
    if (value <= 0) {
      throw Error("--kv-cache-memory: " + std::string(name) + " is " + std::to_string(value) +
                  ", must be positive");
    }
  }
  if (r.recent_window < 0) {
    throw Error("--kv-cache-memory: recent_window is " + std::to_string(r.recent_window) +
                ", must not be negative");
  }
  KvBudget b;
  const int64_t between = r.recent_window + r.block_tokens - 1;
  b.window_blocks = WindowPages(between, r.block_tokens, r.window_pages_per_block);
  b.window_blocks_peak =
      WindowPages(between + r.max_chunk_tokens, r.block_tokens, r.window_pages_per_block);
  b.num_blocks = static_cast<int32_t>(
      std::min<int64_t>(r.total_bytes / r.block_bytes, std::numeric_limits<int32_t>::max()));
  const int64_t minimum = b.window_blocks_peak + 1;
  if (b.num_blocks < minimum) {
    throw Error("--kv-cache-memory: " + std::to_string(r.total_bytes) +
                " bytes cannot hold even one sequence: appending " +
                std::to_string(r.max_chunk_tokens) + " tokens to a window of " +
                std::to_string(between) + " takes " + std::to_string(b.window_blocks_peak) +
                " blocks of " + std::to_string(r.block_bytes) + " bytes, plus one block (" +
                std::to_string(minimum * r.block_bytes) + " bytes in all)");
  }
  b.block_pool_bytes = int64_t{b.num_blocks} * r.block_bytes;
  return b;
}

KvPlan PlanKvCache(const KvProfile& profile, int64_t num_layers, int64_t num_kv_heads,
                   int64_t head_dim, int64_t budget_bytes, int64_t max_chunk_tokens) {
  KvPlan plan;
  plan.layout = ResolveKvLayout(profile, num_layers, num_kv_heads, head_dim);
  plan.recent_window = profile.recent_window;
  KvBudgetRequest request;
  request.total_bytes = budget_bytes;
  request.block_bytes = plan.layout.block_bytes;
  request.block_tokens = plan.layout.block_tokens;
  request.recent_window = profile.recent_window;
  request.window_pages_per_block = plan.layout.window_pages_per_block;
  request.max_chunk_tokens = max_chunk_tokens;
  plan.budget = PlanKvBudget(request);
  return plan;
}

int64_t ParseByteSize(std::string_view text, std::string_view flag) {
  const std::string where = std::string(flag) + ": " + Quoted(text);
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (text.empty()) throw Error(std::string(flag) + ": the size is empty");
  if (text.front() == '-') throw Error(where + " is negative");
  if (!is_digit(text.front())) throw Error(where + " does not start with a number");

  size_t i = 0;
  unsigned __int128 whole = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > kMaxInt64) throw Error(where + " is too large");
  }
  // Digits past the 18th after the point are worth under a millionth of a byte even in TiB.
  unsigned __int128 frac = 0, frac_scale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (i == text.size() || !is_digit(text[i])) throw Error(where + " has no digits after '.'");
    for (; i < text.size() && is_digit(text[i]); ++i) {
      if (frac_scale < kMaxFracScale) {
        frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
        frac_scale *= 10;
      }
    }
  }
  while (i < text.size() && is_space(text[i])) ++i;
  const std::string_view unit = text.substr(i);
  const int64_t multiplier = UnitMultiplier(std::string(unit));
  if (multiplier == 0) {
    throw Error(where + " has an unknown unit " + Quoted(unit) +
                " (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
  }
  if (multiplier == 1 && frac != 0) throw Error(where + " is not a whole number of bytes");
  const unsigned __int128 bytes = whole * multiplier + frac * multiplier / frac_scale;
  if (bytes > kMaxInt64) throw Error(where + " is too large");
  return static_cast<int64_t>(bytes);
}

}  // namespace xq
