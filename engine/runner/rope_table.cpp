#include "engine/runner/rope_table.h"

#include <cmath>
#include <numbers>

namespace xq {

RopeTable MakeRopeTable(const Model& model) {
  const ModelConfig& c = model.config;
  const int64_t half = c.head_dim / 2;
  RopeTable rope;
  rope.theta_scale = std::pow(c.rope_theta, -2.0f / static_cast<float>(c.head_dim));
  rope.freq_divisors.assign(half, 1.0f);
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "linear") rope.freq_scale = 1.0f / s.factor;
  if (s.type == "llama3") {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, a smooth ramp between
    // (the same divisors llama.cpp's converter stores as rope_freqs.weight).
    const double low_wavelen = s.original_max_position / s.low_freq_factor;
    const double high_wavelen = s.original_max_position / s.high_freq_factor;
    for (int64_t i = 0; i < half; ++i) {
      const double freq = std::pow(double(c.rope_theta), -2.0 * double(i) / double(c.head_dim));
      const double wavelen = 2.0 * std::numbers::pi / freq;
      if (wavelen > low_wavelen) {
        rope.freq_divisors[i] = s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (s.original_max_position / wavelen - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        rope.freq_divisors[i] = static_cast<float>(1.0 / ((1.0 - smooth) / s.factor + smooth));
      }
    }
  }
  if (!model.weights.rope_freq_factors.empty()) {
    for (int64_t i = 0; i < half; ++i)
      rope.freq_divisors[i] *= model.weights.rope_freq_factors.data[i];
  }
  return rope;
}

}  // namespace xq
