// The CPU forward pass: against a naive double-precision reference written from the model
// definition, and consistency of the ragged-batch interface (batched == one at a time, chunked
// prefill == one-shot prefill == token-by-token decode).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/common/error.h"
#include "engine/model/contiguous_kv_cache.h"
#include "engine/model/transformer.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

// Straightforward Llama forward for one sequence, all positions, in double precision.
std::vector<double> NaiveForward(const Model& m, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = m.config;
  const int64_t n = tokens.size(), h = c.hidden_size, d = c.head_dim, vocab = c.vocab_size;
  auto matvec = [](const Tensor& w, const std::vector<double>& x, const Tensor* bias) {
    std::vector<double> y(w.rows());
    for (int64_t o = 0; o < w.rows(); ++o) {
      double s = bias && !bias->empty() ? bias->data[o] : 0.0;
      for (int64_t i = 0; i < w.cols(); ++i) s += double(w.data[o * w.cols() + i]) * x[i];
      y[o] = s;
    }
    return y;
  };
  auto rmsnorm = [&](const std::vector<double>& x, const Tensor& w) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / x.size() + c.rms_norm_eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w.data[i];
    return y;
  };
  auto rope = [&](std::vector<double>& v, int64_t heads, int64_t pos) {
    for (int64_t hh = 0; hh < heads; ++hh) {
      for (int64_t i = 0; i < d / 2; ++i) {
        const double ang = pos * std::pow(double(c.rope_theta), -2.0 * i / d);
        double& a = v[hh * d + i];
        double& b = v[hh * d + i + d / 2];
        const double na = a * std::cos(ang) - b * std::sin(ang);
        const double nb = a * std::sin(ang) + b * std::cos(ang);
        a = na;
        b = nb;
      }
    }
  };
  std::vector<std::vector<double>> x(n, std::vector<double>(h));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < h; ++i) x[t][i] = m.weights.token_embedding.data[tokens[t] * h + i];
  }
  for (const LayerWeights& l : m.weights.layers) {
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      auto xn = rmsnorm(x[t], l.attn_norm);
      q[t] = matvec(l.wq, xn, &l.bq);
      k[t] = matvec(l.wk, xn, &l.bk);
      v[t] = matvec(l.wv, xn, &l.bv);
      rope(q[t], c.num_heads, t);
      rope(k[t], c.num_kv_heads, t);
    }
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> attn(c.num_heads * d, 0.0);
      for (int64_t hh = 0; hh < c.num_heads; ++hh) {
        const int64_t g = hh / (c.num_heads / c.num_kv_heads);
        std::vector<double> p(t + 1);
        double mx = -1e300, sum = 0;
        for (int64_t s = 0; s <= t; ++s) {
          double dot = 0;
          for (int64_t i = 0; i < d; ++i) dot += q[t][hh * d + i] * k[s][g * d + i];
          p[s] = dot / std::sqrt(double(d));
          mx = std::max(mx, p[s]);
        }
        for (double& e : p) sum += (e = std::exp(e - mx));
        for (int64_t s = 0; s <= t; ++s) {
          for (int64_t i = 0; i < d; ++i) attn[hh * d + i] += p[s] / sum * v[s][g * d + i];
        }
      }
      auto o = matvec(l.wo, attn, nullptr);
      for (int64_t i = 0; i < h; ++i) x[t][i] += o[i];
      auto xn = rmsnorm(x[t], l.ffn_norm);
      auto gate = matvec(l.w_gate, xn, nullptr), up = matvec(l.w_up, xn, nullptr);
      for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      auto down = matvec(l.w_down, gate, nullptr);
      for (int64_t i = 0; i < h; ++i) x[t][i] += down[i];
    }
  }
  std::vector<double> logits(n * vocab);
  for (int64_t t = 0; t < n; ++t) {
    auto y = matvec(m.output_matrix(), rmsnorm(x[t], m.weights.output_norm), nullptr);
    std::copy(y.begin(), y.end(), logits.begin() + t * vocab);
  }
  return logits;
}

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> out(n);
  for (auto& t : out) t = dist(rng);
  return out;
}

// All-position logits of one sequence, prefilled in chunks of `chunk` tokens.
std::vector<float> RunChunked(Transformer& tr, const Model& m, const std::vector<int32_t>& tokens,
                              int64_t chunk) {
  ContiguousKvCache cache(m.config, static_cast<int64_t>(tokens.size()));
  std::vector<float> all, logits;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    const int64_t len = std::min<int64_t>(chunk, tokens.size() - start);
    ForwardBatch b;
    b.tokens.assign(tokens.begin() + start, tokens.begin() + start + len);
    for (int64_t i = 0; i < len; ++i) {
      b.positions.push_back(static_cast<int32_t>(start + i));
      b.logits_rows.push_back(i);
    }
    b.sequences = {{&cache, len}};
    tr.Forward(b, logits);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  EXPECT_EQ(cache.length(), static_cast<int64_t>(tokens.size()));
  return all;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

class TransformerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TransformerTest, MatchesNaiveReference) {
  const Model m = test::MakeTinyModel({.architecture = GetParam()});
  Transformer tr(m);
  const auto tokens = RandomTokens(40, m.config.vocab_size, 7);
  const std::vector<float> ours = RunChunked(tr, m, tokens, 40);
  const std::vector<double> ref = NaiveForward(m, tokens);
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_err = std::max(max_err, std::fabs(ours[i] - ref[i]));
    max_ref = std::max(max_ref, std::fabs(ref[i]));
  }
  // The KV cache holds f16, so agreement is to f16 precision, not f32.
  EXPECT_LT(max_err, 2e-3 * max_ref) << "max |ref| " << max_ref;
}

TEST_P(TransformerTest, ChunkedPrefillAndDecodeMatchOneShotPrefill) {
  const Model m = test::MakeTinyModel({.architecture = GetParam()});
  Transformer tr(m);
  const auto tokens = RandomTokens(37, m.config.vocab_size, 11);
  const auto one_shot = RunChunked(tr, m, tokens, 37);
  EXPECT_LT(MaxAbsDiff(one_shot, RunChunked(tr, m, tokens, 8)), 1e-4);
  EXPECT_LT(MaxAbsDiff(one_shot, RunChunked(tr, m, tokens, 1)), 1e-4);
}

TEST_P(TransformerTest, RaggedBatchEqualsOneSequenceAtATime) {
  const Model m = test::MakeTinyModel({.architecture = GetParam(), .tie_word_embeddings = true});
  Transformer tr(m);
  const int64_t vocab = m.config.vocab_size;
  // Three sequences: one decoding after a 20-token history, one prefilling 13 tokens, one
  // prefilling its second chunk of 5 after 9 tokens.
  const auto a = RandomTokens(21, vocab, 1), b = RandomTokens(13, vocab, 2), c = RandomTokens(14, vocab, 3);
  const auto ref_a = RunChunked(tr, m, a, 21), ref_b = RunChunked(tr, m, b, 13),
             ref_c = RunChunked(tr, m, c, 14);

  ContiguousKvCache ca(m.config, 32), cb(m.config, 32), cc(m.config, 32);
  std::vector<float> logits;
  auto prefill = [&](ContiguousKvCache& cache, const std::vector<int32_t>& t, int64_t n) {
    ForwardBatch pb;
    pb.tokens.assign(t.begin(), t.begin() + n);
    for (int64_t i = 0; i < n; ++i) pb.positions.push_back(static_cast<int32_t>(i));
    pb.sequences = {{&cache, n}};
    tr.Forward(pb, logits);
  };
  prefill(ca, a, 20);
  prefill(cc, c, 9);

  ForwardBatch batch;
  batch.tokens.push_back(a[20]);
  batch.positions.push_back(20);
  for (int i = 0; i < 13; ++i) {
    batch.tokens.push_back(b[i]);
    batch.positions.push_back(i);
  }
  for (int i = 9; i < 14; ++i) {
    batch.tokens.push_back(c[i]);
    batch.positions.push_back(i);
  }
  batch.sequences = {{&ca, 1}, {&cb, 13}, {&cc, 5}};
  batch.logits_rows = {0, 13, 18, 5};  // last of each sequence, and one inside b
  tr.Forward(batch, logits);
  ASSERT_EQ(logits.size(), 4u * vocab);
  auto row = [&](const std::vector<float>& v, int64_t r) {
    return std::vector<float>(v.begin() + r * vocab, v.begin() + (r + 1) * vocab);
  };
  auto got = [&](int64_t i) { return row(logits, i); };
  EXPECT_LT(MaxAbsDiff(got(0), row(ref_a, 20)), 1e-4);
  EXPECT_LT(MaxAbsDiff(got(1), row(ref_b, 12)), 1e-4);
  EXPECT_LT(MaxAbsDiff(got(2), row(ref_c, 13)), 1e-4);
  EXPECT_LT(MaxAbsDiff(got(3), row(ref_b, 4)), 1e-4);
  EXPECT_EQ(ca.length(), 21);
  EXPECT_EQ(cb.length(), 13);
  EXPECT_EQ(cc.length(), 14);
}

INSTANTIATE_TEST_SUITE_P(Architectures, TransformerTest,
                         ::testing::Values("llama", "mistral", "qwen2"));

TEST(TransformerBatchValidation, RejectsInconsistentBatches) {
  const Model m = test::MakeTinyModel();
  Transformer tr(m);
  ContiguousKvCache cache(m.config, 4);
  std::vector<float> logits;
  ForwardBatch b;
  b.tokens = {1, 2};
  b.positions = {0};
  b.sequences = {{&cache, 2}};
  EXPECT_THROW(tr.Forward(b, logits), Error);  // positions size
  b.positions = {0, 1};
  b.sequences = {{&cache, 1}};
  EXPECT_THROW(tr.Forward(b, logits), Error);  // slices do not cover the tokens
  b.sequences = {{&cache, 2}};
  b.tokens = {1, static_cast<int32_t>(m.config.vocab_size)};
  EXPECT_THROW(tr.Forward(b, logits), Error);  // token outside the vocabulary
  b.tokens = {1, 2, 3, 4, 5};
  b.positions = {0, 1, 2, 3, 4};
  b.sequences = {{&cache, 5}};
  EXPECT_THROW(tr.Forward(b, logits), Error);  // exceeds the cache capacity
  EXPECT_EQ(cache.length(), 0) << "a failed step must not commit anything";
}

}  // namespace
}  // namespace xq
