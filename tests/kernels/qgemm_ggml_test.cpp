// Quantized matmul vs the real thing: llama.cpp's libggml-cpu (from llama-cpp-python), loaded at
// run time, must produce the same activation bytes bit for bit, and the same dot products up to
// what fp32 summation order can change (our block sums are exact integers, as ggml's are).
#include <dlfcn.h>
#include <glob.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/include/ggml_blocks.h"
#include "kernels/include/qgemm.h"
#include "kernels/reference/half.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

using QuantizeRowFn = void (*)(const float*, void*, int64_t);
using VecDotFn = void (*)(int, float*, size_t, const void*, size_t, const void*, size_t, int);

std::string FindGgmlCpu() {
  if (const char* env = std::getenv("XQ_GGML_CPU_LIB")) return env;
  glob_t g;
  std::string found;
  for (const char* pattern :
       {"/root/.pyenv/versions/*/lib/python3*/site-packages/llama_cpp/lib/libggml-cpu.so",
        "/usr/local/lib/python3*/*-packages/llama_cpp/lib/libggml-cpu.so",
        "/usr/lib/python3/dist-packages/llama_cpp/lib/libggml-cpu.so"}) {
    if (glob(pattern, 0, nullptr, &g) == 0 && g.gl_pathc > 0) found = g.gl_pathv[0];
    globfree(&g);
    if (!found.empty()) break;
  }
  return found;
}

class GgmlCpu : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = FindGgmlCpu();
    if (path.empty()) {
      XQ_SKIP_OR_FAIL() << "libggml-cpu.so not found: scripts/setup.sh installs llama-cpp-python";
    }
    lib_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib_) XQ_SKIP_OR_FAIL() << "cannot load " << path << ": " << dlerror();
    const auto init = reinterpret_cast<void (*)()>(dlsym(lib_, "ggml_cpu_init"));
    q8_0_ = reinterpret_cast<QuantizeRowFn>(dlsym(lib_, "quantize_row_q8_0"));
    q8_1_ = reinterpret_cast<QuantizeRowFn>(dlsym(lib_, "quantize_row_q8_1"));
    dot_[0] = reinterpret_cast<VecDotFn>(dlsym(lib_, "ggml_vec_dot_q4_0_q8_0"));
    dot_[1] = reinterpret_cast<VecDotFn>(dlsym(lib_, "ggml_vec_dot_q4_1_q8_1"));
    dot_[2] = reinterpret_cast<VecDotFn>(dlsym(lib_, "ggml_vec_dot_q8_0_q8_0"));
    if (!init || !q8_0_ || !q8_1_ || !dot_[0] || !dot_[1] || !dot_[2]) {
      XQ_SKIP_OR_FAIL() << path << " lacks the ggml CPU quant symbols";
    }
    init();  // fills ggml's fp16 table that the dot products read
  }
  void TearDown() override {
    if (lib_) dlclose(lib_);
  }

  void* lib_ = nullptr;
  QuantizeRowFn q8_0_ = nullptr, q8_1_ = nullptr;
  VecDotFn dot_[3] = {};
};

// |ours - ggml| bound for one dot product: both sum the same nb exact-integer block products
// scaled in fp32 (and Q4_1's nb min terms m * s) in different orders; each term passes through
// at most nb + 8 roundings of 2^-24 relative on either side.
double SummationOrderBound(QWeightType t, const uint8_t* w, const uint8_t* a, int64_t nb) {
  double mag = 0, min_mag = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * QWeightBlockBytes(t);
    const uint8_t* ab = a + b * QActivationBlockBytes(t);
    uint16_t dw, da, m;
    std::memcpy(&dw, wb, 2);
    std::memcpy(&da, ab, 2);
    const int8_t* aq = reinterpret_cast<const int8_t*>(ab + QActivationBlockBytes(t) - kGgmlBlock);
    for (int j = 0; j < kGgmlBlock; ++j) {
      mag += std::fabs(double(HalfToFloat(dw)) * HalfToFloat(da) * aq[j]) * 128;
    }
    if (t == QWeightType::kQ4_1) {
      uint16_t s;
      std::memcpy(&m, wb + 2, 2);
      std::memcpy(&s, ab + 2, 2);
      min_mag += std::fabs(double(HalfToFloat(m)) * HalfToFloat(s));
    }
  }
  return 2 * (nb + 8) * std::ldexp(mag + min_mag, -24);
}

TEST_F(GgmlCpu, SameActivationBytesAndDotProductsUpToSummationOrder) {
  const QWeightType types[] = {QWeightType::kQ4_0, QWeightType::kQ4_1, QWeightType::kQ8_0};
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  const int64_t out = 37, rows = 11;
  for (int ti = 0; ti < 3; ++ti) {
    const QWeightType t = types[ti];
    for (int64_t in : {32, 576, 1536}) {
      const int64_t nb = in / kGgmlBlock;
      std::vector<float> x(rows * in);
      for (size_t i = 0; i < x.size(); ++i) x[i] = normal(rng) * (i % 61 == 0 ? 30.0f : 1.0f);
      std::vector<uint8_t> mine(QuantizedActivationBytes(t, rows, in)), theirs(mine.size());
      QuantizeActivations(t, x.data(), rows, in, mine.data());
      const size_t row_bytes = mine.size() / rows;
      for (int64_t r = 0; r < rows; ++r) {
        (t == QWeightType::kQ4_1 ? q8_1_ : q8_0_)(x.data() + r * in, theirs.data() + r * row_bytes,
                                                  in);
      }
      ASSERT_EQ(mine, theirs) << "activation bytes, type " << ti << " in=" << in;

      std::vector<uint8_t> w(out * nb * QWeightBlockBytes(t));
      for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
      for (int64_t i = 0; i < out * nb; ++i) {  // sane fp16 scales (and mins) in every block
        const uint16_t d = FloatToHalf(scale(rng)), m = FloatToHalf(-8 * scale(rng));
        uint8_t* blk = w.data() + i * QWeightBlockBytes(t);
        std::memcpy(blk, &d, 2);
        if (t == QWeightType::kQ4_1) std::memcpy(blk + 2, &m, 2);
      }
      std::vector<float> y(rows * out);
      QGemm({t, w.data(), out, in, mine.data(), rows, y.data(), false});
      const size_t w_row = nb * QWeightBlockBytes(t);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          float want = 0;
          dot_[ti](static_cast<int>(in), &want, 0, w.data() + o * w_row, 0,
                   theirs.data() + r * row_bytes, 0, 1);
          const double bound = SummationOrderBound(t, w.data() + o * w_row,
                                                   theirs.data() + r * row_bytes, nb);
          ASSERT_NEAR(y[r * out + o], want, bound) << "type " << ti << " in=" << in << " r=" << r;
        }
      }
    }
  }
}

}  // namespace
}  // namespace xq
