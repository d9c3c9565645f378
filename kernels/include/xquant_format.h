// The XQuant KV block format: the contract between engine/kv (which owns blocks) and kernels/
// (which read and write them). docs/KV_FORMAT.md describes it with the formulas.
//
// A block holds `block_tokens` (= G) consecutive tokens of one sequence for EVERY layer, so one
// block id serves all layers. Within a block, layer l's sections sit at offsets[l] and hold, for
// all KV heads h < H (head_dim D), in this order, each section 16-byte aligned:
//   key codes    [H][D][G*B/8]   per (head, channel): the G tokens' B-bit codes, token j at bit
//                                j*B (little-end first). Absent for a layer that shares codes.
//   key params   [H][D]{s, z}    fp16 calibrated scale and zero point of that channel's group.
//   value codes  [H][G][D*B/8]   per (head, token): the D channels' codes, channel d at bit d*B.
//   value params [H][G][D/G]{s,z} fp16 calibrated scale and zero point per G-channel group.
// A 16-bit slot stores raw fp16 instead of codes and params: keys [H][G][D], values [H][G][D].
// Dequantization: x = code * s + z. Codes use the uncalibrated quantizer; s and z are stored
// calibrated: z' = z + eta*s*(2^B - 1), s' = (1 - 2*eta)*s (data-free calibration).
// A layer that shares codes (the upper layer 2j+1 of a pair) stores only its own params and
// decodes with the codes of layer 2j in the same block; both have the same bits.
#pragma once

#include <cstdint>
#include <vector>

namespace xq {

inline constexpr int kFp16Bits = 16;

// One of K or V of one layer.
struct KvSlotSpec {
  int bits = kFp16Bits;      // 1, 2, 4, 8, or 16 (fp16, unquantized)
  bool shares_codes = false;  // decode with the codes of the layer below (same bits)
  float eta = 0.0f;           // calibration; 0 = off
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
  int64_t block_tokens = 32;  // G: tokens per block = key group = value channel group
  std::vector<KvLayerSpec> layers;
  std::vector<KvLayerOffsets> offsets;
  int64_t block_bytes = 0;

  // Bytes of one (head, channel) key code string / one (head, token) value code string.
  int64_t KeyCodeBytes(int bits) const { return block_tokens * bits / 8; }
  int64_t ValueCodeBytes(int bits) const { return head_dim * bits / 8; }
  int64_t ValueGroups() const { return head_dim / block_tokens; }
};

// Computes offsets and block_bytes. Requires: head_dim % block_tokens == 0, block_tokens * bits
// divisible by 8 for every quantized slot, a sharing slot's layer below has the same bits and
// does not itself share. Violations throw std::invalid_argument naming the layer and field (the
// engine validates profiles first and reports them to users).
KvBlockLayout MakeKvBlockLayout(int64_t num_kv_heads, int64_t head_dim, int64_t block_tokens,
                                const std::vector<KvLayerSpec>& layers);

// First position that is still kept unquantized in fp16 when a sequence holds `length` tokens
// and the newest `recent_window` (R) tokens stay fp16: whole blocks leave the window as soon as
// they are older than R. frontier(len) = floor(max(0, len - R) / G) * G.
inline int64_t QuantizedFrontier(int64_t length, int64_t recent_window, int64_t block_tokens) {
  const int64_t old = length - recent_window;
  return old <= 0 ? 0 : old / block_tokens * block_tokens;
}

}  // namespace xq
