// The CUDA runner against the CPU runner on tiny models, through the real KV manager and
// BatchInputs: fp16 and quantized caches, shared codes, rotation, sinks, Qwen2 biases, tied
// embeddings, chunked prefill, decode and ragged batches. Built twice: in CI over the SIMT
// emulation (the runner's own sources against the CUDA runtime stand-in, which tracks device
// memory and checks each copy's direction; kernels through the emulation; the GEMM wrapper's
// scalar stand-in), and where nvcc is found against the real runtime and cuBLAS, for a GPU
// (tests/gpu/run_all.sh).
#include "engine/runner/cuda/cuda_model_runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/common/error.h"
#include "engine/model/hf_config.h"
#include "engine/model/synthetic_model.h"
#include "engine/runner/cpu_model_runner.h"
#include "engine/runner/gpu_memory.h"
#include "engine/sampling/logits_processor.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/token_logprobs.h"
#include "engine/step/batch_builder.h"
#include "engine/step/solo_sequence.h"
#include "kernels/reference/half.h"
#include "tests/support/kv_test_backend.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

constexpr int64_t kBlock = 8;  // the tiny model's head_dim is 16

// The model with every matrix rounded to fp16, as the CUDA runner holds them: the CPU runner on
// it differs from the device path only by the fp16 rounding of the GEMMs' activations.
Model WithFp16Matrices(Model m) {
  auto round = [](Tensor& t) {
    for (float& x : t.data) x = HalfToFloat(FloatToHalf(x));
  };
  for (LayerWeights& l : m.weights.layers) {
    for (Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) round(*t);
  }
  round(m.weights.output);           // empty when tied:
  round(m.weights.token_embedding);  // the output matrix then
  return m;
}

// The same backend with the CUDA runner in place of the CPU one.
KvBackend OnCuda(KvBackend b, const Model& m, CudaRunnerOptions options = {}) {
  const KvConfig config{b.plan.layout, b.plan.recent_window, b.plan.budget.num_blocks};
  b.runner = std::make_unique<CudaModelRunner>(m, options);
  b.runner->AllocateKv(config);
  return b;
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::fabs(double(x)));
  return m;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, std::fabs(double(a[i]) - b[i]));
  }
  return m;
}

// Same fp16 matrices on both sides; the device path also rounds each GEMM's input activations
// to fp16 (unit roundoff 2^-11, about 4.9e-4 relative). Bound: twice that, relative to the
// largest logit. Measured: 1.2e-4 to 2.8e-4; a missing Q bias (a small term) gives 3.6e-3.
constexpr double kRelativeTolerance = 1e-3;

struct Case {
  const char* name;
  test::TinyModelOptions model;
  int k_bits, v_bits;
  bool share_v;
  int64_t recent_window;
  bool rotate = false;
  int64_t sinks = 0;
};

class CudaRunner : public ::testing::TestWithParam<Case> {};

TEST_P(CudaRunner, MatchesTheCpuRunnerOverPrefillChunksAndDecode) {
  const Case& c = GetParam();
  const Model m = WithFp16Matrices(test::MakeTinyModel(c.model));
  auto specs = test::UniformSpecs(m.config.num_layers, c.k_bits, c.v_bits, c.share_v, 0.1f);
  for (KvLayerSpec& s : specs) s.k.rotated = s.v.rotated = c.rotate;
  auto make = [&] {
    return test::MakeTestBackend(m, specs, kBlock, c.recent_window, 64, false, c.sinks);
  };
  const auto tokens = test::RandomTokens(30, m.config.vocab_size, 7);
  KvBackend cpu = make();
  KvBackend gpu = OnCuda(make(), m);
  // A 20-token prefill in chunks of 10 (every row's logits), then 10 decode steps: blocks
  // leave the window on the way, sinks stay.
  auto run = [&](KvBackend& b) {
    SoloSequence seq(*b.runner, *b.kv);
    const std::span<const int32_t> all(tokens);
    const std::vector<int64_t> rows = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::vector<float> logits = seq.Append(all.first(10), rows);
    const auto& more = seq.Append(all.subspan(10, 10), rows);
    logits.insert(logits.end(), more.begin(), more.end());
    for (int32_t t : all.subspan(20)) {
      const auto& next = seq.Step(t);
      logits.insert(logits.end(), next.begin(), next.end());
    }
    return logits;
  };
  const auto want = run(cpu), got = run(gpu);
  ASSERT_EQ(want.size(), 30u * m.config.vocab_size);
  EXPECT_LT(MaxAbsDiff(want, got), kRelativeTolerance * MaxAbs(want)) << c.name;
  EXPECT_EQ(gpu.kv->pool().Stats().used_blocks, 0);
}

#if defined(XQ_SIMT_EMULATION)
// The emulated GEMM sums each row alone and in order: a row cannot depend on the batch.
double BatchInvariance(const std::vector<float>&) { return 1e-5; }
#else
// cuBLAS picks kernels by shape (split-K among them), so a row's sums may round differently
// with the batch around it: bounded as the comparison with the CPU is.
double BatchInvariance(const std::vector<float>& ref) { return kRelativeTolerance * MaxAbs(ref); }
#endif

// Chunked prefill, decode token by token, and one-shot prefill give the same logits on the
// device path: with CUDA-core prefill tiles as exactly as the GEMMs allow; with tensor-core
// tiles (fp16 attention operands in prefill, not in decode) within the bound the comparison with
// the CPU uses, which fp16 rounding of the GEMMs' inputs already sets.
class CudaRunnerConsistency : public ::testing::TestWithParam<bool> {};

TEST_P(CudaRunnerConsistency, ChunkingDoesNotChangeResultsWithQuantizedBlocks) {
  const bool tensor_cores = GetParam();
  const Model m = test::MakeTinyModel();
  const auto specs = test::UniformSpecs(m.config.num_layers, 2, 2, true, 0.1f);
  CudaRunnerOptions options;
  options.tensor_core_prefill = tensor_cores;
  KvBackend gpu = OnCuda(test::MakeTestBackend(m, specs, kBlock, 8), m, options);
  const auto tokens = test::RandomTokens(30, m.config.vocab_size, 3);
  const auto one_shot = test::RunTokens(gpu, tokens, 30);
  const double bound =
      tensor_cores ? kRelativeTolerance * MaxAbs(one_shot) : BatchInvariance(one_shot);
  EXPECT_LT(MaxAbsDiff(test::RunTokens(gpu, tokens, 1), one_shot), bound);
  EXPECT_LT(MaxAbsDiff(test::RunTokens(gpu, tokens, 7), one_shot), bound);
  EXPECT_EQ(gpu.kv->pool().Stats().used_blocks, 0);
}

INSTANTIATE_TEST_SUITE_P(PrefillTiles, CudaRunnerConsistency, ::testing::Values(false, true),
                         [](const auto& info) {
                           return std::string(info.param ? "TensorCores" : "CudaCores");
                         });

// GGUF-quantized matrices kept in their blocks on the device against the same matrices turned
// into fp16 at load, through each of MatMul's three paths, which all form the same products (fp16
// weights and activations) and differ only in summation order: a 300-token chunk with every
// row's logits (more rows than the tensor-core GEMM takes: slices dequantized into fp16 for
// cuBLAS, the fp16 copies' values: bitwise under the emulation, whose GEMM sums each output
// alone), a 10-token chunk (the tensor-core GEMM) and decode steps (the GEMV), both bounded as
// cuBLAS's batch-dependent order is on a GPU (measured here: about 1e-5, under 1e-5 relative). The
// embedding is gathered from its blocks; untied, and tied (from the output matrix's). Blocks of
// Q4_0, Q4_1 and Q8_0 (the CPU's types too), and the types only the device keeps: the K-quants of
// a Q4_K_M file (256-value super-blocks, a wider model) and Q5_0 / Q5_1 beside them.
struct QuantizedCase {
  const char* name;
  bool tied;
  bool cuda_only_types;
};
class CudaRunnerQuantizedWeights : public ::testing::TestWithParam<QuantizedCase> {};

INSTANTIATE_TEST_SUITE_P(Models, CudaRunnerQuantizedWeights,
                         ::testing::Values(QuantizedCase{"untied", false, false},
                                           QuantizedCase{"tied", true, false},
                                           QuantizedCase{"cuda_only_types", false, true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(CudaRunnerQuantizedWeights, BlocksOnTheDeviceGiveTheFp16CopiesLogits) {
  const QuantizedCase c = GetParam();
  const Model m =
      c.cuda_only_types
          ? test::WithQuantizedMatrices(test::MakeTinyModel({.hidden_size = 256}),
                                        {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ5_K,
                                         GgmlType::kQ5_0, GgmlType::kQ5_1})
          : test::WithQuantizedMatrices(test::MakeTinyModel({.tie_word_embeddings = c.tied}));
  const auto specs = test::UniformSpecs(m.config.num_layers, 2, 2, true, 0.1f);
  auto make = [&](bool keep) {
    CudaRunnerOptions options;
    options.keep_quantized_weights = keep;
    options.dequantize_slice_elements = 1000;  // 15 rows of 64, 3 of 256: many slices
    options.logits_chunk_rows = 512;           // the head's 300 rows at once: slices too
    return OnCuda(test::MakeTestBackend(m, specs, kBlock, 8), m, options);
  };
  KvBackend blocks = make(true), fp16 = make(false);
  const auto& kept = dynamic_cast<const CudaModelRunner&>(*blocks.runner);
  const auto& copied = dynamic_cast<const CudaModelRunner&>(*fp16.runner);
  EXPECT_EQ(kept.quantized_matrices(), c.tied ? 15 : 16);  // untied: the embedding too
  EXPECT_EQ(kept.fp16_matrices(), 0);
  EXPECT_EQ(copied.quantized_matrices(), 0);
  EXPECT_EQ(copied.fp16_matrices(), 15);
  EXPECT_LT(kept.weight_bytes(), copied.weight_bytes());
  const auto tokens = test::RandomTokens(320, m.config.vocab_size, 9);
  // Per chunk: its logits rows.
  auto run = [&](KvBackend& b) {
    SoloSequence seq(*b.runner, *b.kv);
    const std::span<const int32_t> all(tokens);
    std::vector<int64_t> every(300);
    std::iota(every.begin(), every.end(), 0);
    std::vector<std::vector<float>> chunks = {seq.Append(all.first(300), every)};
    const std::vector<int64_t> rows = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    chunks.push_back(seq.Append(all.subspan(300, 10), rows));
    std::vector<float> decode;
    for (int32_t t : all.subspan(310)) {
      const auto& next = seq.Step(t);
      decode.insert(decode.end(), next.begin(), next.end());
    }
    chunks.push_back(decode);
    return chunks;
  };
  const auto got = run(blocks), want = run(fp16);
  const char* paths[] = {"slices for cuBLAS", "tensor-core GEMM", "GEMV"};
  // The slices sum as a GEMM over the fp16 copy does; the other two in their own order, bounded
  // as cuBLAS's batch-dependent order is on a GPU.
  EXPECT_LT(MaxAbsDiff(got[0], want[0]), BatchInvariance(want[0])) << paths[0];
  for (int i = 1; i < 3; ++i) {
    EXPECT_LT(MaxAbsDiff(got[i], want[i]), kRelativeTolerance * MaxAbs(want[i])) << paths[i];
  }
#if defined(XQ_SIMT_EMULATION)
  // Which path ran: only the slices sum as the emulated GEMM does.
  EXPECT_EQ(MaxAbsDiff(got[0], want[0]), 0.0) << paths[0];
  EXPECT_GT(MaxAbsDiff(got[1], want[1]), 0.0) << paths[1];
  EXPECT_GT(MaxAbsDiff(got[2], want[2]), 0.0) << paths[2];
#endif
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, CudaRunner,
    ::testing::Values(
        Case{"fp16", {}, kFp16Bits, kFp16Bits, false, 0},
        Case{"qwen2_biases_fp16", {.architecture = "qwen2"}, kFp16Bits, kFp16Bits, false, 0},
        Case{"tied_k4v2", {.tie_word_embeddings = true}, 4, 2, false, 8},
        Case{"k2v2_shared", {}, 2, 2, true, 8},
        Case{"k1v1_rotated_sinks", {}, 1, 1, false, 8, true, 1}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CudaRunnerBatch, RaggedBatchEqualsOneSequenceAtATime) {
  const Model m = test::MakeTinyModel();
  const auto specs = test::UniformSpecs(m.config.num_layers, 2, 2, true, 0.1f);
  auto backend = [&] { return OnCuda(test::MakeTestBackend(m, specs, kBlock, 8), m); };
  const int64_t vocab = m.config.vocab_size;
  const auto a = test::RandomTokens(21, vocab, 1), b = test::RandomTokens(13, vocab, 2);
  KvBackend solo = backend();
  const auto ref_a = test::RunTokens(solo, a, 21), ref_b = test::RunTokens(solo, b, 13);

  KvBackend kv = backend();
  SequenceKv sa, sb;
  std::vector<float> logits;
  auto step = [&](std::vector<SequenceKv*> seqs, std::vector<std::span<const int32_t>> chunks,
                  std::vector<int64_t> rows) { test::RunStep(kv, seqs, chunks, rows, logits); };
  const std::span<const int32_t> sa_all(a), sb_all(b);
  step({&sa}, {sa_all.first(17)}, {});
  // a decodes its last 4 while b prefills whole; rows: a's last, b's 6th and last.
  step({&sa, &sb}, {sa_all.subspan(17), sb_all}, {3, 9, 16});
  auto row = [&](const std::vector<float>& v, int64_t r) {
    return std::vector<float>(v.begin() + r * vocab, v.begin() + (r + 1) * vocab);
  };
  auto got = [&](int64_t i) { return row(logits, i); };
  const double bound = BatchInvariance(ref_a);
  EXPECT_LT(MaxAbsDiff(got(0), row(ref_a, 20)), bound);
  EXPECT_LT(MaxAbsDiff(got(1), row(ref_b, 5)), bound);
  EXPECT_LT(MaxAbsDiff(got(2), row(ref_b, 12)), bound);
  for (SequenceKv* s : {&sa, &sb}) kv.kv->Release(*s);
  EXPECT_EQ(kv.kv->CheckInvariants(), "");
}

// A synthetic model whose values the device generates runs exactly as the same model generated
// on the host and uploaded (bitwise the same fp16 matrices and fp32 embedding); the CPU runner
// refuses it.
TEST(CudaRunnerSynthetic, ValuesGeneratedOnTheDeviceAreTheUploadedOnes) {
  const test::TempDir dir;
  const auto config = dir / "config.json";
  std::ofstream(config) << HfConfigToJson(test::MakeTinyModel().config);
  const Model host = MakeSyntheticModel(config);
  const Model device = MakeSyntheticModel(config, 1, GgmlType::kF32, /*values_on_device=*/true);
  ASSERT_TRUE(device.weights.layers[1].w_down.synthetic.has_value());
  ASSERT_TRUE(device.weights.token_embedding.data.empty());
  const auto specs = test::UniformSpecs(host.config.num_layers, 2, 2, true, 0.1f);
  KvBackend uploaded = OnCuda(test::MakeTestBackend(host, specs, kBlock, 8), host);
  KvBackend generated = OnCuda(test::MakeTestBackend(host, specs, kBlock, 8), device);
  const auto tokens = test::RandomTokens(20, host.config.vocab_size, 5);
  EXPECT_EQ(test::RunTokens(generated, tokens, 7), test::RunTokens(uploaded, tokens, 7));
  EXPECT_EQ(dynamic_cast<const CudaModelRunner&>(*generated.runner).weight_bytes(),
            dynamic_cast<const CudaModelRunner&>(*uploaded.runner).weight_bytes());
  EXPECT_THROW(CpuModelRunner{device}, Error);
}

TEST(CudaRunnerValidation, RejectsABadBlockIdBeforeAnyKernelRuns) {
  const Model m = test::MakeTinyModel();
  KvBackend kv =
      OnCuda(test::MakeTestBackend(m, test::UniformSpecs(m.config.num_layers, 2, 2), kBlock, 8), m);
  SequenceKv s;
  const auto tokens = test::RandomTokens(3, m.config.vocab_size, 4);
  kv.kv->Reserve(s, 3);
  BatchInputs in;
  in.Clear();
  AppendSequence(in, *kv.kv, s, tokens, LogitRows::kLast);
  in.window_pages[0] = 1000;
  std::vector<float> logits;
  EXPECT_THROW(kv.runner->Execute(in, logits), Error);
}

// A grammar's bitmask as the CPU's TokenConstraint::MaskLogits applies it.
void MaskDisallowed(std::vector<float>& row, const RowSampling& draw,
                    const std::vector<uint32_t>& allowed) {
  if (draw.allowed_tokens < 0) return;
  const auto vocab = static_cast<int64_t>(row.size());
  const uint32_t* words = allowed.data() + draw.allowed_tokens * AllowedTokenWords(vocab);
  for (int64_t t = 0; t < vocab; ++t) {
    if (!TokenAllowed(words, t)) row[t] = -INFINITY;
  }
}

// Rows are sampled on the device: each token is the draw's reference (row_sampling.h: the CPU
// sampler's draw) over the row after its edits, greedy or not, and every other row comes back
// exactly as without sampled rows.
// Run with every logits row on the device at once, and 5 at a time (chunks that split the
// sampled and returned rows unevenly); references always come from the first.
class CudaRunnerSampling : public ::testing::TestWithParam<int64_t> {
 protected:
  KvBackend Backend(const Model& m, const std::vector<KvLayerSpec>& specs, bool reference) {
    CudaRunnerOptions options;
    if (!reference) options.logits_chunk_rows = GetParam();
    return OnCuda(test::MakeTestBackend(m, specs, kBlock, 8), m, options);
  }
};

INSTANTIATE_TEST_SUITE_P(LogitsChunks, CudaRunnerSampling,
                         ::testing::Values(kMaxLogitsRowsOnDevice, int64_t{5}));

TEST_P(CudaRunnerSampling, SampledRowsGiveTheReferencesTokenAndLeaveOtherRowsAlone) {
  const Model m = test::MakeTinyModel();
  const auto specs = test::UniformSpecs(m.config.num_layers, 2, 2);
  const int64_t vocab = m.config.vocab_size, n = 12;
  const auto tokens = test::RandomTokens(n, vocab, 3);
  std::vector<RowLogprobs> returned_logprobs;
  // A grammar's bitmask on row 7 (entry 4): only tokens t % 3 == 1 may come next.
  std::vector<uint32_t> allowed(static_cast<size_t>(AllowedTokenWords(vocab)), 0u);
  for (int64_t t = 1; t < vocab; t += 3) allowed[t / 32] |= 1u << (t % 32);
  auto run = [&](const std::vector<int64_t>& sampled_rows,
                 const std::vector<std::vector<LogitEdit>>& edits,
                 const std::vector<RowSampling>& draws, std::vector<float>& logits) {
    KvBackend kv = Backend(m, specs, sampled_rows.empty());
    SequenceKv s;
    kv.kv->Reserve(s, n);
    BatchInputs in;
    in.Clear();
    AppendSequence(in, *kv.kv, s, tokens, LogitRows::kAll);
    for (size_t i = 0; i < sampled_rows.size(); ++i) {
      in.sampled_rows.push_back(sampled_rows[i]);
      in.logit_edits.insert(in.logit_edits.end(), edits[i].begin(), edits[i].end());
      in.sampled_edit_indptr.push_back(static_cast<int64_t>(in.logit_edits.size()));
      in.row_sampling.push_back(draws[i]);
    }
    in.allowed_tokens = allowed;
    kv.runner->Execute(in, logits);
    returned_logprobs.assign(kv.runner->sampled_logprobs().begin(),
                             kv.runner->sampled_logprobs().end());
    return std::vector<int32_t>(kv.runner->sampled_tokens().begin(),
                                kv.runner->sampled_tokens().end());
  };
  std::vector<float> ref;
  EXPECT_TRUE(run({}, {}, {}, ref).empty());
  auto row = [&](const std::vector<float>& v, int64_t r) {
    return std::vector<float>(v.begin() + r * vocab, v.begin() + (r + 1) * vocab);
  };
  // Greedy: row 2 with its best token masked; row 3 with a far token boosted; row 11 with its
  // best tokens penalized; row 0 with no edits. Drawn: rows 5, 7 and 8 at temperature 1.5 with
  // every truncation, rows 9 and 10 with plain temperature (a draw over the whole vocabulary).
  const std::vector<int64_t> sampled_rows = {0, 2, 3, 5, 7, 8, 9, 10, 11};
  std::vector<RowSampling> draws(sampled_rows.size());
  draws[3] = {1.5f, 20, 0.9f, 0.01f, 0.31};
  draws[4] = {1.5f, 0, 0.7f, 0.0f, 0.62};
  draws[5] = {1.5f, 3, 1.0f, 0.0f, 0.95};
  draws[6] = {1.5f, 0, 1.0f, 0.0f, 0.5};
  draws[7] = {2.0f, 0, 1.0f, 0.0f, 0.05};
  // Logprobs: raw (of the row before its edits) on a greedy and a drawn row, processed (after
  // the edits, at the draw's temperature) on another.
  for (const size_t i : {size_t{2}, size_t{5}}) draws[i].top_logprobs = 4;
  draws[4].top_logprobs = 20;
  draws[4].raw_logprobs = 0;
  draws[4].logprobs_temperature = 1.5f;
  draws[4].allowed_tokens = 0;
  const int32_t best2 = ArgMax(row(ref, 2)), best11 = ArgMax(row(ref, 11));
  SamplingParams boost, penalize;
  boost.logit_bias = {{static_cast<int32_t>((ArgMax(row(ref, 3)) + vocab / 2) % vocab), 50.0f}};
  penalize.repetition_penalty = 1.5f;
  penalize.presence_penalty = 2.0f;
  TokenHistory history(std::vector<int32_t>{best11});
  history.AddOutput(best11);
  std::vector<std::vector<LogitEdit>> edits(sampled_rows.size());
  AppendLogitEdits({}, {}, std::vector<int32_t>{best2}, edits[1]);
  AppendLogitEdits(boost, {}, {}, edits[2]);
  AppendLogitEdits(penalize, history, {}, edits[8]);
  AppendLogitEdits(boost, {}, {}, edits[4]);

  std::vector<float> logits;
  const std::vector<int32_t> got = run(sampled_rows, edits, draws, logits);
  ASSERT_EQ(got.size(), sampled_rows.size());
  int drawn_elsewhere = 0;  // drawn tokens that are not the row's first maximum
  for (size_t i = 0; i < sampled_rows.size(); ++i) {
    std::vector<float> want = row(ref, sampled_rows[i]);
    MaskDisallowed(want, draws[i], allowed);
    ApplyLogitEdits(want, edits[i]);
    const int32_t token = SampleRowReference(want.data(), vocab, draws[i]);
    EXPECT_EQ(got[i], token) << "row " << sampled_rows[i];
    if (IsGreedy(draws[i])) {
      EXPECT_EQ(token, ArgMax(want));
    }
    drawn_elsewhere += !IsGreedy(draws[i]) && token != ArgMax(want);
  }
  EXPECT_GE(drawn_elsewhere, 2) << "the draws should not all land on the maximum";
  ASSERT_EQ(returned_logprobs.size(), sampled_rows.size());
  for (const size_t i : {size_t{2}, size_t{4}, size_t{5}}) {
    std::vector<float> source = row(ref, sampled_rows[i]);
    if (!draws[i].raw_logprobs) {
      MaskDisallowed(source, draws[i], allowed);
      ApplyLogitEdits(source, edits[i]);
    }
    const TokenLogprobs want =
        ComputeTokenLogprobs(source, got[i], draws[i].top_logprobs, draws[i].logprobs_temperature);
    const RowLogprobs& lp = returned_logprobs[i];
    SCOPED_TRACE(::testing::Message() << "row " << sampled_rows[i]);
    // The CPU's vectorized exp against the device's: log Z within about 1e-7 of its size.
    EXPECT_NEAR(lp.logprob, want.logprob, 1e-4);
    EXPECT_EQ(lp.rank, want.rank);
    ASSERT_EQ(lp.top_count, static_cast<int32_t>(want.top.size()));
    for (size_t j = 0; j < want.top.size(); ++j) {
      EXPECT_EQ(lp.top_tokens[j], want.top[j].token);
      EXPECT_NEAR(lp.top_logprobs[j], want.top[j].logprob, 1e-4);
    }
  }
  EXPECT_EQ(got[4] % 3, 1) << "the grammar's bitmask";
  EXPECT_NE(got[1], best2);
  EXPECT_EQ(got[2], boost.logit_bias.begin()->first);
  for (int64_t r = 0; r < n; ++r) {
    if (std::find(sampled_rows.begin(), sampled_rows.end(), r) != sampled_rows.end()) continue;
    EXPECT_EQ(row(logits, r), row(ref, r)) << "row " << r;
  }
}

// Prompt rows scored on the device: each row's given token comes back with its raw logprobs,
// rank and alternatives, as the CPU computes them from the whole row, which never crosses.
TEST_P(CudaRunnerSampling, PromptRowsAreScoredForTheirGivenToken) {
  const Model m = test::MakeTinyModel();
  const auto specs = test::UniformSpecs(m.config.num_layers, 2, 2);
  const int64_t vocab = m.config.vocab_size, n = 7;
  const auto tokens = test::RandomTokens(n, vocab, 5);
  auto run = [&](const std::vector<RowSampling>& scored, std::vector<float>& logits) {
    KvBackend kv = Backend(m, specs, scored.empty());
    SequenceKv s;
    kv.kv->Reserve(s, n);
    BatchInputs in;
    in.Clear();
    AppendSequence(in, *kv.kv, s, tokens, LogitRows::kAll);
    for (size_t r = 0; r < scored.size(); ++r) {
      in.sampled_rows.push_back(static_cast<int64_t>(r));
      in.row_sampling.push_back(scored[r]);
      in.sampled_edit_indptr.push_back(0);
    }
    kv.runner->Execute(in, logits);
    EXPECT_EQ(kv.runner->sampled_tokens().size(), scored.size());
    return std::vector<RowLogprobs>(kv.runner->sampled_logprobs().begin(),
                                    kv.runner->sampled_logprobs().end());
  };
  std::vector<float> ref;
  run({}, ref);
  // Rows 0..5 scored for the prompt's next token with 0, 3 and 20 alternatives; row 6 left.
  std::vector<RowSampling> scored(n - 1);
  for (size_t r = 0; r < scored.size(); ++r) {
    scored[r].given_token = tokens[r + 1];
    scored[r].top_logprobs = r % 3 == 0 ? 0 : r % 3 == 1 ? 3 : 20;
  }
  std::vector<float> logits;
  const std::vector<RowLogprobs> got = run(scored, logits);
  ASSERT_EQ(got.size(), scored.size());
  for (size_t r = 0; r < scored.size(); ++r) {
    SCOPED_TRACE(::testing::Message() << "row " << r);
    const std::span<const float> row(ref.data() + r * vocab, vocab);
    const TokenLogprobs want = ComputeTokenLogprobs(row, tokens[r + 1], scored[r].top_logprobs);
    EXPECT_NEAR(got[r].logprob, want.logprob, 1e-4);  // two exp implementations
    EXPECT_EQ(got[r].rank, want.rank);
    ASSERT_EQ(got[r].top_count, static_cast<int32_t>(want.top.size()));
    for (size_t j = 0; j < want.top.size(); ++j) {
      EXPECT_EQ(got[r].top_tokens[j], want.top[j].token);
      EXPECT_NEAR(got[r].top_logprobs[j], want.top[j].logprob, 1e-4);
    }
  }
  const std::span<const float> last(logits.data() + (n - 1) * vocab, vocab);
  EXPECT_TRUE(std::equal(last.begin(), last.end(), ref.begin() + (n - 1) * vocab));
}

// One decode step of `seqs` (each appends its token), every row sampled on the device: seq 0
// greedy, seq 1 drawn (temperature, top-p), seq 2 greedy with a logit bias and processed
// logprobs, and under `grammar` (when given) the bitmask on seq 2.
BatchInputs DecodeStep(KvBackend& b, std::vector<SequenceKv*> seqs, const std::vector<int32_t>& ids,
                       const std::vector<int32_t>& tokens, double uniform,
                       const std::vector<uint32_t>* grammar) {
  BatchInputs in;
  in.Clear();
  for (size_t i = 0; i < seqs.size(); ++i) {
    b.kv->Reserve(*seqs[i], 1);
    AppendSequence(in, *b.kv, *seqs[i], std::span(&tokens[i], 1), LogitRows::kLast);
    in.sampled_rows.push_back(static_cast<int64_t>(i));
    RowSampling draw;
    if (ids[i] == 1) draw = {0.8f, 0, 0.9f, 0.0f, uniform};
    if (ids[i] == 2) {
      SamplingParams bias;
      bias.logit_bias = {{7, 1.5f}};
      AppendLogitEdits(bias, {}, {}, in.logit_edits);
      draw.top_logprobs = 3;
      draw.raw_logprobs = 0;
      if (grammar) draw.allowed_tokens = 0;
    }
    in.sampled_edit_indptr.push_back(static_cast<int64_t>(in.logit_edits.size()));
    in.row_sampling.push_back(draw);
  }
  if (grammar) in.allowed_tokens = *grammar;
  return in;
}

// Decode steps replayed from CUDA graphs (padded to their bucket, quantize jobs included) give
// the tokens and logprobs of the same steps launched one kernel at a time; graphs are reused
// while the shape holds, and captured again when the batch size changes or a buffer they read
// moved (a longer prefill grew the activations). Without a sink block and fp16 matrices, and
// with one (kept fp16) and matrices kept in GGML blocks (the quantized GEMV inside graphs).
class CudaRunnerGraphs : public ::testing::TestWithParam<int64_t> {};

INSTANTIATE_TEST_SUITE_P(SinkBlocks, CudaRunnerGraphs, ::testing::Values(0, 1));

TEST_P(CudaRunnerGraphs, DecodeStepsFromGraphsMatchEagerSteps) {
  const Model m =
      GetParam() == 0 ? test::MakeTinyModel() : test::WithQuantizedMatrices(test::MakeTinyModel());
  const auto specs = test::UniformSpecs(m.config.num_layers, 2, 2, true, 0.1f);
  const int64_t vocab = m.config.vocab_size;
  auto backend = [&](bool graphs) {
    return OnCuda(test::MakeTestBackend(m, specs, kBlock, 8, 256, false, GetParam()), m,
                  {.graphs = graphs});
  };
  KvBackend eager = backend(false), graphed = backend(true);
  std::vector<uint32_t> grammar(static_cast<size_t>(AllowedTokenWords(vocab)), 0u);
  for (int64_t t = 1; t < vocab; t += 3) grammar[t / 32] |= 1u << (t % 32);
  std::vector<SequenceKv> se(4), sg(4);
  auto both = [&](auto&& make_step) {
    std::vector<float> logits;
    eager.runner->Execute(make_step(eager, se), logits);
    graphed.runner->Execute(make_step(graphed, sg), logits);
  };
  auto commit = [&](const std::vector<int>& ids, int64_t n) {
    for (int i : ids) {
      eager.kv->Commit(se[i], n);
      graphed.kv->Commit(sg[i], n);
    }
  };
  auto prefill = [&](const std::vector<int>& ids, const std::vector<int32_t>& lengths) {
    both([&](KvBackend& b, std::vector<SequenceKv>& s) {
      BatchInputs in;
      in.Clear();
      for (size_t i = 0; i < ids.size(); ++i) {
        const auto tokens = test::RandomTokens(lengths[i], vocab, 10 + ids[i]);
        b.kv->Reserve(s[ids[i]], lengths[i]);
        AppendSequence(in, *b.kv, s[ids[i]], tokens, LogitRows::kNone);
      }
      return in;
    });
    for (size_t i = 0; i < ids.size(); ++i) commit({ids[i]}, lengths[i]);
  };
  prefill({0, 1, 2}, {4, 12, 21});
  std::vector<int32_t> next = {3, 5, 9};  // each sequence's input, then the eager runner's draw
  std::mt19937 rng(17);
  int matched = 0;
  auto decode = [&](const std::vector<int>& ids, int step) {
    std::vector<int32_t> tokens;
    for (int i : ids) tokens.push_back(next[i]);
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const std::vector<uint32_t>* mask = step % 2 ? &grammar : nullptr;
    both([&](KvBackend& b, std::vector<SequenceKv>& s) {
      std::vector<SequenceKv*> seqs;
      for (int i : ids) seqs.push_back(&s[i]);
      return DecodeStep(b, seqs, ids, tokens, u, mask);
    });
    const auto te = eager.runner->sampled_tokens(), tg = graphed.runner->sampled_tokens();
    ASSERT_EQ(tg.size(), ids.size());
    const auto pe = eager.runner->sampled_logprobs(), pg = graphed.runner->sampled_logprobs();
    ASSERT_EQ(pg.size(), ids.size());
    for (size_t r = 0; r < ids.size(); ++r) {
      SCOPED_TRACE(::testing::Message() << "step " << step << " sequence " << ids[r]);
      EXPECT_EQ(tg[r], te[r]);
      next[ids[r]] = te[r];
      if (ids[r] != 2) continue;
      if (mask) {
        EXPECT_EQ(te[r] % 3, 1) << "the grammar's bitmask";
      }
      EXPECT_EQ(pg[r].rank, pe[r].rank);
      EXPECT_NEAR(pg[r].logprob, pe[r].logprob, 1e-4);
      ASSERT_EQ(pg[r].top_count, 3);
      for (int j = 0; j < 3; ++j) EXPECT_EQ(pg[r].top_tokens[j], pe[r].top_tokens[j]);
    }
    matched += static_cast<int>(ids.size());
    commit(ids, 1);
  };
  auto* runner = static_cast<CudaModelRunner*>(graphed.runner.get());
  for (int step = 0; step < 8; ++step) decode({0, 1, 2}, step);
  const CudaGraphStats before = runner->graph_stats();
  // With and without the grammar's kernel: each shape runs eagerly once, then from its graph.
  EXPECT_EQ(before.eager_steps, 1 + 2);  // the prefill, the two shapes' first steps
  EXPECT_EQ(before.captures, 2);
  EXPECT_EQ(before.replays, 6);
  prefill({3}, {40});  // grows every activation buffer
  for (int step = 8; step < 12; ++step) decode({0, 1, 2}, step);
  EXPECT_EQ(runner->graph_stats().captures, 4) << "the buffers they read moved";
  for (int step = 12; step < 16; ++step) decode({0, 2}, step);
  EXPECT_EQ(runner->graph_stats().captures, 6) << "a new bucket";
  EXPECT_EQ(runner->graph_stats().replays, 6 + 4 + 2);
  EXPECT_EQ(runner->graph_stats().eager_steps, 3 + 1 + 2);
  EXPECT_EQ(matched, 12 * 3 + 4 * 2);
#if defined(XQ_SIMT_EMULATION)
  // The padding wrote only the scratch block: every block the sequences own holds the same
  // bytes as after the eager steps (the emulated GEMM is row by row, so bitwise).
  const KvStorage& ke = eager.runner->kv_storage();
  const size_t bytes = static_cast<size_t>(ke.num_blocks()) * ke.block_bytes();
  EXPECT_EQ(
      std::memcmp(eager.runner->kv_storage().arena(), graphed.runner->kv_storage().arena(), bytes),
      0);
#endif
  for (int i = 0; i < 4; ++i) {
    eager.kv->Release(se[i]);
    graphed.kv->Release(sg[i]);
  }
  EXPECT_EQ(graphed.kv->CheckInvariants(), "");
}

// One sequence decoding greedily (xquant bench's loop): every step after the prompt replays the
// bucket-1 graph, and the tokens are the host's first maximum of eagerly computed logits.
TEST(CudaRunnerGraphsSolo, GreedyDecodeOfOneSequenceReplaysOneGraph) {
  const Model m = test::MakeTinyModel();
  const auto specs = test::UniformSpecs(m.config.num_layers, 2, 2, true, 0.1f);
  auto backend = [&](bool graphs) {
    return OnCuda(test::MakeTestBackend(m, specs, kBlock, 8), m, {.graphs = graphs});
  };
  KvBackend eager = backend(false), graphed = backend(true);
  const auto prompt = test::RandomTokens(6, m.config.vocab_size, 8);
  const int64_t last[] = {5};
  SoloSequence se(*eager.runner, *eager.kv), sg(*graphed.runner, *graphed.kv);
  const int32_t first = ArgMax(se.Append(prompt, last));
  EXPECT_EQ(ArgMax(sg.Append(prompt, last)), first);
  int32_t want = first, got = first;
  for (int i = 0; i < 12; ++i) {
    want = ArgMax(se.Step(want));
    got = sg.StepGreedy(got);
    ASSERT_EQ(got, want) << "step " << i;
  }
  const CudaGraphStats& stats = static_cast<CudaModelRunner&>(*graphed.runner).graph_stats();
  EXPECT_EQ(stats.eager_steps, 2);  // the prompt, and the first decode step (a warm-up)
  EXPECT_EQ(stats.captures, 1) << "lengths 7 to 18 share a graph";
  EXPECT_EQ(stats.replays, 11);
}

#if defined(XQ_SIMT_EMULATION)
TEST(CudaRunnerMemory, FreesEveryDeviceAllocation) {
  const size_t before = simt::DeviceBytesInUse();
  {
    const Model m = test::MakeTinyModel();
    KvBackend kv = OnCuda(
        test::MakeTestBackend(m, test::UniformSpecs(m.config.num_layers, 2, 2), kBlock, 8), m);
    test::RunTokens(kv, test::RandomTokens(5, m.config.vocab_size, 4), 5);
    EXPECT_GT(simt::DeviceBytesInUse(), before);
  }
  EXPECT_EQ(simt::DeviceBytesInUse(), before);
}

// --gpu-memory-utilization sets activations aside by StepActivationBytes: it must cover what
// the runner allocates beyond its weights and KV arena for the largest step.
TEST(CudaRunnerMemory, StepActivationsFitTheEstimate) {
  const Model m = test::MakeTinyModel();
  KvBackend kv =
      OnCuda(test::MakeTestBackend(m, test::UniformSpecs(m.config.num_layers, 2, 2), kBlock, 8), m);
  const size_t before = simt::DeviceBytesInUse();
  constexpr int64_t kTokens = 48;  // one sequence's prefill: every row's logits
  test::RunTokens(kv, test::RandomTokens(kTokens, m.config.vocab_size, 4), kTokens);
  const auto activations = static_cast<int64_t>(simt::DeviceBytesInUse() - before);
  EXPECT_GT(activations, 0);
  const int64_t estimate = StepActivationBytes(m.config, kTokens, kTokens) - kActivationMargin;
  EXPECT_LE(activations, estimate);
  EXPECT_GT(activations, estimate / 4) << "an estimate this loose would waste KV memory";
}
#endif

}  // namespace
}  // namespace xq
