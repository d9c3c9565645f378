// The XQuant KV block format: the contract between engine/kv (which owns blocks) and kernels/
// (which read and write them). docs/KV_FORMAT.md describes it with the formulas.
//
// A block holds `block_tokens` (= G) consecutive tokens of one sequence for EVERY layer, so one
// block id serves all layers. Within a block, layer l's sections sit at offsets[l] and hold, for
// all KV heads h < H (head_dim D), in this order, each section 16-byte aligned:
//   key codes    [H][D][G*B/8]   per (head, channel): the G tokens' B-bit codes, token j at bit
//                                j*B (little-end first). Absent for a layer that shares codes.
//   key params   [H][G/T][D]{s,z} calibrated scale and zero point of channel d's group of T =
//                                 group_tokens tokens (T = G unless the slot says otherwise).
//   value codes  [H][G][D*B/8]   per (head, token): the D channels' codes, channel d at bit d*B.
//   value params [H][G][D/C]{s,z} calibrated scale and zero point per group of C = group_channels
//                                 consecutive channels (C = G unless the slot says otherwise).
// Params are fp16 pairs (param_bits 16) or, with param_bits 8, per head a 16-byte base {s0, z0,
// zstep, 0} (fp32) followed by one byte pair {s8, z8} per group: s = s0 * MiniFloat(s8), z = z0 +
// z8 * zstep (kernels/include/xquant_params.h).
// A 16-bit slot stores raw fp16 instead of codes and params: keys [H][G][D], values [H][G][D].
// Dequantization: x = code * s + z (in the rotated basis for a slot with `rotated` set). Codes use
// the uncalibrated quantizer; s and z are stored calibrated: z' = z + eta*s*(2^B - 1), s' = (1 -
// 2*eta)*s (data-free calibration). A layer that shares codes (the upper layer 2j+1 of a pair)
// stores only its own params and decodes with the codes of layer 2j in the same block; both have
// the same bits.
//
// The fp16 recent window lives in the same pool as "window pages" (any block id can be either).
// A window block holds the fp16 keys and values of G consecutive tokens for every layer as
// 2 * L * G rows of [H * D] fp16, row r = (layer * 2 + is_value) * G + token, spread over
// window_pages_per_block pages of window_rows_per_page rows each (page k holds rows
// [k * rows_per_page, (k + 1) * rows_per_page)). A page is as big as a compressed block.
//
// Attention sinks: the first sink_blocks window blocks of a sequence never leave fp16. Once the
// frontier passes them they stay in front of the sequence's window list (they are still
// quantized into their compressed blocks, which the prefix cache chains through, but attention
// reads them from the window pages).
#pragma once

#include <cstdint>

#include "kernels/include/device_safe.h"

namespace xq {

inline constexpr int kFp16Bits = 16;
// Layers a block layout describes at most (fixed so the layout is a POD a device can copy).
inline constexpr int kMaxKvLayers = 128;

// One of K or V of one layer.
struct KvSlotSpec {
  int bits = kFp16Bits;       // 1, 2, 4, 8, or 16 (fp16, unquantized)
  bool shares_codes = false;  // decode with the codes of the layer below (same bits)
  float eta = 0.0f;           // calibration; 0 = off
  // Cached in the Hadamard-rotated basis of kernels/include/xquant_rotation.h (window rows and
  // blocks alike); the runner rotates on the way in and, for values, the output on the way out.
  bool rotated = false;
  // Keys only: tokens per key group, a divisor of block_tokens (0 = block_tokens). Finer groups
  // follow the key channels' drift within a block at the cost of more params.
  int group_tokens = 0;
  // Values only: channels per value group, a divisor of head_dim (0 = block_tokens).
  int group_channels = 0;
  // 16: fp16 {s, z} per group; 8: one byte each against a per-head base (xquant_params.h), which
  // halves what params cost so that finer groups fit the same bits.
  int param_bits = 16;
};

struct KvLayerSpec {
  KvSlotSpec k, v;
};

// Byte offsets of one layer's sections within a block; -1 where a section is absent.
struct KvLayerOffsets {
  int64_t k_codes = -1;   // codes, or raw fp16 keys for a 16-bit slot
  int64_t k_params = -1;  // {s, z} fp16 pairs; -1 for a 16-bit slot
  int64_t v_codes = -1;
  int64_t v_params = -1;
};

struct KvBlockLayout {
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t block_tokens = 32;             // G: tokens per block (and default group size)
  KvLayerSpec layers[kMaxKvLayers];      // [num_layers] used
  KvLayerOffsets offsets[kMaxKvLayers];  // [num_layers] used
  int64_t block_bytes = 0;
  // fp16 window pages (see the top of this file).
  int64_t window_rows_per_page = 0;    // block_bytes / (H * D * 2)
  int64_t window_pages_per_block = 0;  // ceil(2 * L * G / window_rows_per_page)
  int64_t sink_blocks = 0;             // leading blocks kept in fp16 for good (see the top)

  // Bytes of one (head, channel) key code string / one (head, token) value code string.
  XQ_HOST_DEVICE int64_t KeyCodeBytes(int bits) const { return block_tokens * bits / 8; }
  XQ_HOST_DEVICE int64_t ValueCodeBytes(int bits) const { return head_dim * bits / 8; }
  // Channels per value group of a value slot, and such groups per (head, token).
  XQ_HOST_DEVICE int64_t ValueGroupChannels(const KvSlotSpec& v) const {
    return v.group_channels > 0 ? v.group_channels : block_tokens;
  }
  XQ_HOST_DEVICE int64_t ValueGroups(const KvSlotSpec& v) const {
    return head_dim / ValueGroupChannels(v);
  }
  // Tokens per key group of a key slot.
  XQ_HOST_DEVICE int64_t KeyGroupTokens(const KvSlotSpec& k) const {
    return k.group_tokens > 0 ? k.group_tokens : block_tokens;
  }
  // {s, z} groups of one head in a block: keys [G/T][D], values [G][D/C].
  XQ_HOST_DEVICE int64_t ParamGroups(const KvSlotSpec& spec, bool key) const {
    return key ? block_tokens / KeyGroupTokens(spec) * head_dim : block_tokens * ValueGroups(spec);
  }
  // Bytes of one head's params (heads follow each other within the section).
  XQ_HOST_DEVICE int64_t ParamHeadBytes(const KvSlotSpec& spec, bool key) const {
    const int64_t groups = ParamGroups(spec, key);
    return spec.param_bits == 8 ? 16 + groups * 2 : groups * 4;
  }
  XQ_HOST_DEVICE int64_t WindowRowBytes() const { return num_kv_heads * head_dim * 2; }
};

// Computes offsets, block_bytes and the window page geometry. Requires: 1 <= num_layers <=
// kMaxKvLayers, head_dim % block_tokens == 0, block_tokens * bits divisible by 8 for every
// quantized slot, a sharing slot's layer below has the same bits and does not itself share,
// group_tokens a divisor of block_tokens (keys only), group_channels a divisor of head_dim (values
// only), each group's codes whole bytes, param_bits 8 or 16.
// Violations throw std::invalid_argument naming the layer and field (the engine validates
// profiles first and reports them to users).
KvBlockLayout MakeKvBlockLayout(int64_t num_kv_heads, int64_t head_dim, int64_t block_tokens,
                                const KvLayerSpec* layers, int64_t num_layers);

// First position that is still kept unquantized in fp16 when a sequence holds `length` tokens
// and the newest `recent_window` (R) tokens stay fp16: whole blocks leave the window as soon as
// they are older than R. frontier(len) = floor(max(0, len - R) / G) * G.
XQ_HOST_DEVICE inline int64_t QuantizedFrontier(int64_t length, int64_t recent_window,
                                                int64_t block_tokens) {
  const int64_t old = length - recent_window;
  return old <= 0 ? 0 : old / block_tokens * block_tokens;
}

// Where the fp16 attention sinks end for a query whose frontier is `frontier`: positions
// [0, SinkEnd) are read from window pages, [SinkEnd, frontier) from compressed blocks and
// [frontier, ...) from window pages again.
XQ_HOST_DEVICE inline int64_t SinkEnd(const KvBlockLayout& L, int64_t frontier) {
  const int64_t sinks = L.sink_blocks * L.block_tokens;
  return sinks < frontier ? sinks : frontier;
}

// One sequence's fp16 window as the kernels see it: first the sink blocks that have left the
// recent window (held = min(sink_blocks, first_block) of them, blocks 0 .. held - 1), then the
// recent window's blocks from first_block on; list entry w is pages[w * P, (w + 1) * P).
struct XqWindowView {
  const int32_t* pages = nullptr;  // [(held + window blocks) * window_pages_per_block]
  int64_t first_block = 0;         // window_start / G
};

// Sink blocks in front of a window list that starts at block first_block.
XQ_HOST_DEVICE inline int64_t SinkBlocksHeld(const KvBlockLayout& L, int64_t first_block) {
  return L.sink_blocks < first_block ? L.sink_blocks : first_block;
}

// Byte offset in the arena of the fp16 row [H * D] holding layer `layer`'s keys (is_value 0) or
// values (1) at position `pos` of the window; *run receives how many rows from pos on are
// contiguous (same block and page), at least 1.
XQ_HOST_DEVICE inline int64_t WindowRowOffset(const KvBlockLayout& L, XqWindowView w, int64_t layer,
                                              int is_value, int64_t pos, int64_t* run) {
  const int64_t G = L.block_tokens, per_page = L.window_rows_per_page;
  const int64_t held = SinkBlocksHeld(L, w.first_block), b = pos / G, token = pos % G;
  const int64_t block = b < held ? b : b - w.first_block + held;
  const int64_t row = (layer * 2 + is_value) * G + token;
  const int64_t page = row / per_page, slot = row % per_page;
  const int64_t to_block_end = G - token, to_page_end = per_page - slot;
  *run = to_block_end < to_page_end ? to_block_end : to_page_end;
  const int64_t id = w.pages[block * L.window_pages_per_block + page];
  return id * L.block_bytes + slot * L.WindowRowBytes();
}

}  // namespace xq
