#include "engine/kv/paged_kv_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "engine/kv/kv_budget.h"
#include "kernels/include/xquant_kernels.h"

namespace xq {

PagedKvCache::PagedKvCache(const ModelConfig& config, KvBlockLayout layout, int64_t recent_window,
                           int32_t num_blocks, std::string name)
    : layout_(std::move(layout)),
      recent_window_(recent_window),
      num_heads_(config.num_heads),
      pool_(layout_.block_bytes, num_blocks),
      name_(std::move(name)),
      window_bytes_per_token_(
          Fp16KvBytesPerToken(config.num_layers, config.num_kv_heads, config.head_dim)) {}

int64_t PagedKvCache::WindowCharge(int64_t rows) const {
  return WindowChargeBlocks(rows, window_bytes_per_token_, layout_.block_bytes);
}

std::unique_ptr<PagedKvCache> PagedKvCache::FromProfile(const ModelConfig& config,
                                                        const KvProfile& profile,
                                                        int64_t budget_bytes,
                                                        int64_t max_chunk_tokens) {
  KvBlockLayout layout =
      ResolveKvLayout(profile, config.num_layers, config.num_kv_heads, config.head_dim);
  KvBudgetRequest request;
  request.total_bytes = budget_bytes;
  request.block_bytes = layout.block_bytes;
  request.block_tokens = layout.block_tokens;
  request.recent_window = profile.recent_window;
  request.window_bytes_per_token =
      Fp16KvBytesPerToken(config.num_layers, config.num_kv_heads, config.head_dim);
  request.max_chunk_tokens = max_chunk_tokens;
  const KvBudget budget = PlanKvBudget(request);
  return std::make_unique<PagedKvCache>(config, std::move(layout), profile.recent_window,
                                        budget.num_blocks, profile.name);
}

std::unique_ptr<SequenceKvCache> PagedKvCache::NewSequence(int64_t /*max_tokens*/) {
  return std::make_unique<PagedSequenceCache>(*this);
}

PagedSequenceCache::PagedSequenceCache(PagedKvCache& owner)
    : owner_(owner), window_k_(owner.layout().num_layers), window_v_(owner.layout().num_layers) {}

PagedSequenceCache::~PagedSequenceCache() {
  std::lock_guard lock(owner_.allocation_mutex());
  for (int32_t b : blocks_) owner_.pool().Release(b);
  for (int32_t b : window_charge_) owner_.pool().Release(b);
}

int64_t PagedSequenceCache::FrontierBlocks(int64_t length) const {
  const int64_t G = owner_.layout().block_tokens;
  return QuantizedFrontier(length, owner_.recent_window(), G) / G;
}

PagedSequenceCache::Growth PagedSequenceCache::GrowthFor(int64_t total, int64_t now) const {
  const int64_t compressed = FrontierBlocks(length_ + total) - static_cast<int64_t>(blocks_.size());
  const int64_t window = owner_.WindowCharge(length_ + now - window_start_) -
                         static_cast<int64_t>(window_charge_.size());
  return {std::max<int64_t>(0, compressed), std::max<int64_t>(0, window)};
}

int64_t PagedSequenceCache::BlocksToGrow(int64_t total, int64_t now) const {
  const Growth g = GrowthFor(total, now);
  return g.compressed + g.window;
}

std::unique_ptr<PagedSequenceCache> PagedSequenceCache::Fork() const {
  auto copy = std::make_unique<PagedSequenceCache>(owner_);
  {
    std::lock_guard lock(owner_.allocation_mutex());
    const int64_t charge = static_cast<int64_t>(window_charge_.size());
    if (!owner_.pool().CanAllocate(static_cast<int32_t>(charge))) {
      throw KvCacheFull("KV cache full: a copy's window needs " + std::to_string(charge) +
                        " blocks");
    }
    copy->ChargeWindow(charge);
    for (int32_t b : blocks_) owner_.pool().AddRef(b);
  }
  copy->blocks_ = blocks_;
  copy->length_ = length_;
  copy->window_start_ = window_start_;
  copy->prefix = prefix;
  const int64_t row = owner_.layout().num_kv_heads * owner_.layout().head_dim;
  const int64_t rows = (length_ - window_start_) * row;  // drop uncommitted rows
  for (size_t l = 0; l < window_k_.size(); ++l) {
    copy->window_k_[l].assign(window_k_[l].begin(),
                              window_k_[l].begin() + std::min<int64_t>(rows, window_k_[l].size()));
    copy->window_v_[l].assign(window_v_[l].begin(),
                              window_v_[l].begin() + std::min<int64_t>(rows, window_v_[l].size()));
  }
  return copy;
}

void PagedSequenceCache::AdoptPrefix(std::vector<int32_t> blocks, int64_t length) {
  const KvBlockLayout& layout = owner_.layout();
  const int64_t frontier = QuantizedFrontier(length, owner_.recent_window(), layout.block_tokens);
  if (length_ != 0 || !blocks_.empty() ||
      static_cast<int64_t>(blocks.size()) * layout.block_tokens != frontier) {
    throw std::logic_error(
        "PagedSequenceCache::AdoptPrefix: needs an empty sequence and exactly "
        "the blocks before the frontier");
  }
  {
    std::lock_guard lock(owner_.allocation_mutex());
    const int64_t charge = owner_.WindowCharge(length - frontier);
    if (!owner_.pool().CanAllocate(static_cast<int32_t>(charge))) {
      throw KvCacheFull("KV cache full: a cached prefix's window needs " + std::to_string(charge) +
                        " blocks");
    }
    ChargeWindow(charge);
  }
  blocks_ = std::move(blocks);
  length_ = length;
  window_start_ = frontier;
  const int64_t row = layout.num_kv_heads * layout.head_dim;
  for (size_t l = 0; l < window_k_.size(); ++l) {
    window_k_[l].assign((length - frontier) * row, _Float16{});
    window_v_[l].assign((length - frontier) * row, _Float16{});
  }
}

const _Float16* PagedSequenceCache::WindowRow(int64_t layer, bool values, int64_t pos) const {
  const int64_t row = owner_.layout().num_kv_heads * owner_.layout().head_dim;
  const auto& w = values ? window_v_[layer] : window_k_[layer];
  return w.data() + (pos - window_start_) * row;
}

_Float16* PagedSequenceCache::MutableWindowRow(int64_t layer, bool values, int64_t pos) {
  return const_cast<_Float16*>(std::as_const(*this).WindowRow(layer, values, pos));
}

void PagedSequenceCache::EnsureCapacity(int64_t n) {
  const auto [compressed, window] = GrowthFor(n, n);
  if (compressed + window == 0) return;
  std::lock_guard lock(owner_.allocation_mutex());
  BlockPool& pool = owner_.pool();
  if (!pool.CanAllocate(static_cast<int32_t>(compressed + window))) {
    const BlockPoolStats s = pool.Stats();
    throw KvCacheFull("KV cache full: the step needs " + std::to_string(compressed + window) +
                      " more blocks, " + std::to_string(s.free_blocks) + " of " +
                      std::to_string(s.total_blocks) + " are free");
  }
  for (int64_t i = 0; i < compressed; ++i) blocks_.push_back(*pool.Allocate());
  ChargeWindow(window);
}

void PagedSequenceCache::ChargeWindow(int64_t count) {
  BlockPool& pool = owner_.pool();
  for (int64_t i = 0; i < count; ++i) {
    const int32_t b = *pool.Allocate();
    // The block only stands for the window's heap memory: give its pages back to the OS.
    const auto begin = reinterpret_cast<uintptr_t>(pool.Data(b));
    const uintptr_t page = 4096;
    const uintptr_t first = (begin + page - 1) / page * page;
    const uintptr_t last = (begin + static_cast<uintptr_t>(pool.block_bytes())) / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    window_charge_.push_back(b);
  }
}

void PagedSequenceCache::TrimWindowCharge() {
  const int64_t keep = owner_.WindowCharge(length_ - window_start_);
  if (static_cast<int64_t>(window_charge_.size()) <= keep) return;
  std::lock_guard lock(owner_.allocation_mutex());
  while (static_cast<int64_t>(window_charge_.size()) > keep) {
    owner_.pool().Release(window_charge_.back());
    window_charge_.pop_back();
  }
}

void PagedSequenceCache::AppendAndAttend(int64_t layer, int64_t n, const float* q, const float* k,
                                         const float* v, float* out) {
  const KvBlockLayout& layout = owner_.layout();
  const int64_t G = layout.block_tokens, R = owner_.recent_window();
  const int64_t row = layout.num_kv_heads * layout.head_dim;
  const int64_t end = length_ + n;
  const int64_t frontier = QuantizedFrontier(end, R, G);
  // Blocks for every position that leaves the window in this step, taken before anything else
  // changes so running out leaves the sequence as it was.
  if (layer == 0) EnsureCapacity(n);  // a no-op after Reserve

  // The window keeps its committed rows and takes the new ones (replacing any left over from a
  // step that failed before Commit).
  std::vector<_Float16>& wk = window_k_[layer];
  std::vector<_Float16>& wv = window_v_[layer];
  const int64_t committed_rows = length_ - window_start_;
  wk.resize((committed_rows + n) * row);
  wv.resize((committed_rows + n) * row);
  for (int64_t i = 0; i < n * row; ++i) {
    wk[committed_rows * row + i] = static_cast<_Float16>(k[i]);
    wv[committed_rows * row + i] = static_cast<_Float16>(v[i]);
  }

  // Blocks leaving the window get this layer's codes and params (the layer below, whose codes a
  // sharing layer borrows, was written when it ran).
  const int64_t first_block = window_start_ / G, last_block = frontier / G;
#pragma omp parallel for schedule(static) if (last_block - first_block > 1)
  for (int64_t b = first_block; b < last_block; ++b) {
    const int64_t r0 = b * G - window_start_;
    XqQuantizeBlockLayer(layout, layer, wk.data() + r0 * row, wv.data() + r0 * row,
                         owner_.pool().Data(blocks_[b]));
  }

  XqAttentionParams p;
  p.layout = &layout;
  p.layer = layer;
  p.arena = owner_.pool().arena();
  p.block_table = blocks_.data();
  p.num_blocks = last_block;
  p.window_k = wk.data();
  p.window_v = wv.data();
  p.window_start = window_start_;
  p.window_len = end - window_start_;
  p.q = q;
  p.n = n;
  p.num_heads = owner_.num_heads();
  p.recent_window = R;
  p.scale = 1.0f / std::sqrt(static_cast<float>(layout.head_dim));
  p.out = out;
  XqAttention(p);
}

void PagedSequenceCache::Commit(int64_t n) {
  const KvBlockLayout& layout = owner_.layout();
  const int64_t row = layout.num_kv_heads * layout.head_dim;
  length_ += n;
  const int64_t frontier = QuantizedFrontier(length_, owner_.recent_window(), layout.block_tokens);
  const int64_t drop = (frontier - window_start_) * row;
  if (drop > 0) {
    if (KvCommitObserver* observer = owner_.commit_observer()) {
      observer->OnLeaveWindow(*this, window_start_, frontier);
    }
    for (size_t l = 0; l < window_k_.size(); ++l) {
      window_k_[l].erase(window_k_[l].begin(), window_k_[l].begin() + drop);
      window_v_[l].erase(window_v_[l].begin(), window_v_[l].begin() + drop);
    }
  }
  window_start_ = frontier;
  TrimWindowCharge();
}

}  // namespace xq
