#include "engine/kv/kv_accounting.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <span>
#include <stdexcept>
#include <vector>

namespace xq {
namespace {

std::string Printf(const char* fmt, ...) {
  va_list args, copy;
  va_start(args, fmt);
  va_copy(copy, args);
  std::string out(std::vsnprintf(nullptr, 0, fmt, copy), '\0');
  va_end(copy);
  std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

const KvSlotSpec& Slot(const KvBlockLayout& layout, size_t l, bool keys) {
  return keys ? layout.layers[l].k : layout.layers[l].v;
}

// "2-bit L0-15, 1-bit L16-29, codes shared by 7 layers from L17".
std::string DescribeSlots(const KvBlockLayout& layout, bool keys) {
  std::string out;
  const size_t n = static_cast<size_t>(layout.num_layers);
  for (size_t begin = 0; begin < n;) {
    const int bits = Slot(layout, begin, keys).bits;
    size_t end = begin;
    while (end + 1 < n && Slot(layout, end + 1, keys).bits == bits) ++end;
    if (!out.empty()) out += ", ";
    out += bits == kFp16Bits ? std::string("fp16") : Printf("%d-bit", bits);
    out += begin == end ? Printf(" L%zu", begin) : Printf(" L%zu-%zu", begin, end);
    begin = end + 1;
  }
  int shared = 0;
  size_t first_shared = 0;
  for (size_t l = 0; l < n; ++l) {
    if (Slot(layout, l, keys).shares_codes && shared++ == 0) first_shared = l;
  }
  if (shared > 0) out += Printf(", codes shared by %d layers from L%zu", shared, first_shared);
  if (Slot(layout, 0, keys).rotated) out += ", Hadamard-rotated";
  if (keys && layout.KeyGroupTokens(Slot(layout, 0, true)) != layout.block_tokens) {
    out += Printf(", %lld-token groups",
                  static_cast<long long>(layout.KeyGroupTokens(Slot(layout, 0, true))));
  }
  if (!keys && layout.ValueGroupChannels(Slot(layout, 0, false)) != layout.block_tokens) {
    out += Printf(", %lld-channel groups",
                  static_cast<long long>(layout.ValueGroupChannels(Slot(layout, 0, false))));
  }
  if (Slot(layout, 0, keys).param_bits == 8) out += ", 8-bit scales and zero points";
  return out;
}

}  // namespace

KvAccounting ComputeKvAccounting(const KvBlockLayout& layout, int64_t recent_window) {
  KvAccounting a;
  const int64_t L = layout.num_layers, H = layout.num_kv_heads, D = layout.head_dim;
  const int64_t G = layout.block_tokens;
  if (L <= 0 || H <= 0 || D <= 0 || G <= 0 || L > kMaxKvLayers) {
    throw std::invalid_argument("KV accounting: the block layout is empty or inconsistent");
  }
  int64_t code_bits = 0;
  for (const KvLayerSpec& spec : std::span(layout.layers, layout.num_layers)) {
    for (const KvSlotSpec* s : {&spec.k, &spec.v}) code_bits += s->shares_codes ? 0 : s->bits;
  }
  a.equivalent_bits = static_cast<double>(code_bits) / static_cast<double>(2 * L);
  a.block_bytes = layout.block_bytes;
  a.block_tokens = G;
  a.recent_window = recent_window;
  a.sink_blocks = layout.sink_blocks;
  a.real_bits_per_element =
      static_cast<double>(layout.block_bytes) * 8.0 / static_cast<double>(G * L * 2 * H * D);
  a.bytes_per_token = static_cast<double>(layout.block_bytes) / static_cast<double>(G);
  a.fp16_bytes_per_token = 2 * L * H * D * 2;
  // What a window token really costs: its block's share of the window pages.
  a.window_bytes_per_token = static_cast<double>(layout.window_pages_per_block) *
                             static_cast<double>(layout.block_bytes) / static_cast<double>(G);
  return a;
}

double BytesPerTokenAt(const KvAccounting& a, int64_t context_length) {
  if (context_length <= 0) throw std::invalid_argument("KV accounting: context length must be > 0");
  const int64_t frontier = QuantizedFrontier(context_length, a.recent_window, a.block_tokens);
  const int64_t sinks = std::min(a.sink_blocks, frontier / a.block_tokens);
  const double bytes = static_cast<double>(frontier / a.block_tokens) * a.block_bytes +
                       static_cast<double>(context_length - frontier + sinks * a.block_tokens) *
                           a.window_bytes_per_token;
  return bytes / static_cast<double>(context_length);
}

std::string DescribeKvAccounting(const std::string& profile_name, const KvBlockLayout& layout,
                                 int64_t recent_window, int64_t context_length) {
  const KvAccounting a = ComputeKvAccounting(layout, recent_window);
  std::map<int, float> etas;
  for (const KvLayerSpec& spec : std::span(layout.layers, layout.num_layers)) {
    for (const KvSlotSpec* s : {&spec.k, &spec.v}) {
      if (s->bits != kFp16Bits) etas[s->bits] = s->eta;
    }
  }
  std::string calibration;
  for (const auto& [bits, eta] : etas) {
    if (eta == 0.0f) continue;
    calibration += Printf("%seta%d=%.4g", calibration.empty() ? "" : " ", bits, eta);
  }
  const double at = BytesPerTokenAt(a, context_length);
  const double fp16 = static_cast<double>(a.fp16_bytes_per_token);
  std::string s = Printf("KV profile %s: K ", profile_name.c_str());
  s += DescribeSlots(layout, true) + "; V " + DescribeSlots(layout, false);
  s += calibration.empty() ? "; no calibration" : "; calibration " + calibration;
  if (layout.sink_blocks > 0) {
    s += Printf("; the first %lld tokens stay fp16 (attention sinks)",
                static_cast<long long>(layout.sink_blocks * layout.block_tokens));
  }
  s += Printf(
      ". %.3f equivalent bits (paper convention), %.3f real bits per element. A block of %lld "
      "tokens is %lld bytes: %.1f bytes/token vs %lld in fp16 (%.2fx compression). ",
      a.equivalent_bits, a.real_bits_per_element, static_cast<long long>(a.block_tokens),
      static_cast<long long>(a.block_bytes), a.bytes_per_token,
      static_cast<long long>(a.fp16_bytes_per_token), fp16 / a.bytes_per_token);
  s += recent_window > 0
           ? Printf("The newest %lld tokens stay fp16, so", static_cast<long long>(recent_window))
           : std::string("Only a partly filled block stays fp16:");
  s += Printf(" a %lld-token sequence costs %.1f bytes/token (%.2fx compression).",
              static_cast<long long>(context_length), at, fp16 / at);
  return s;
}

}  // namespace xq
