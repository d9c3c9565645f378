#include "engine/eval/teacher_forced_eval.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <utility>

#include "engine/common/error.h"
#include "engine/step/solo_sequence.h"
#include "kernels/include/thread_pool.h"

namespace xq {
namespace {

// Per row: log-softmax in double.
void LogSoftmaxRows(const std::vector<float>& logits, int64_t rows, int64_t vocab,
                    std::vector<double>& out) {
  out.resize(rows * vocab);
  ComputePool().ParallelFor(rows, Schedule::kStatic, [&](int64_t r) {
    const float* x = logits.data() + r * vocab;
    const double max = *std::max_element(x, x + vocab);
    double sum = 0.0;
    for (int64_t i = 0; i < vocab; ++i) sum += std::exp(x[i] - max);
    const double log_z = max + std::log(sum);
    for (int64_t i = 0; i < vocab; ++i) out[r * vocab + i] = x[i] - log_z;
  });
}

struct Run {
  std::unique_ptr<SoloSequence> seq;
  double nll = 0.0, kl = 0.0;
  int64_t agree = 0, agree_clear = 0;
};

// The row's best index, and how far it leads the second best.
std::pair<int32_t, double> TopTwoGap(const double* row, int64_t vocab) {
  int32_t best = 0;
  double first = -INFINITY, second = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) {
    if (row[i] > first) {
      second = first;
      first = row[i];
      best = static_cast<int32_t>(i);
    } else if (row[i] > second) {
      second = row[i];
    }
  }
  return {best, first - second};
}

}  // namespace

std::vector<TeacherForcedResult> EvaluateTeacherForced(const Model& model,
                                                       const std::vector<int32_t>& tokens,
                                                       KvBackend& baseline,
                                                       const std::vector<KvBackend*>& profiles,
                                                       const TeacherForcedOptions& options) {
  const int64_t n = static_cast<int64_t>(tokens.size()), vocab = model.config.vocab_size;
  if (n < 2 || options.score_from >= n - 1) {
    throw Error("eval: the text has " + std::to_string(n) + " tokens, too few to score past " +
                std::to_string(options.score_from));
  }
  Run base{std::make_unique<SoloSequence>(*baseline.runner, *baseline.kv)};
  std::vector<Run> runs;
  for (KvBackend* b : profiles)
    runs.push_back({std::make_unique<SoloSequence>(*b->runner, *b->kv)});

  std::vector<double> base_lp, lp;
  int64_t scored = 0, clear = 0;
  for (int64_t start = 0; start < n - 1; start += options.chunk) {
    const int64_t len = std::min(options.chunk, n - 1 - start);
    const std::span<const int32_t> chunk(tokens.data() + start, len);
    // Only positions being scored need logits.
    std::vector<int64_t> logits_rows;
    for (int64_t i = std::max<int64_t>(0, options.score_from - start); i < len; ++i) {
      logits_rows.push_back(i);
    }
    const int64_t rows = static_cast<int64_t>(logits_rows.size());

    LogSoftmaxRows(base.seq->Append(chunk, logits_rows), rows, vocab, base_lp);
    std::vector<int32_t> base_argmax(rows);
    std::vector<bool> is_clear(rows);
    for (int64_t r = 0; r < rows; ++r) {
      const double* row = base_lp.data() + r * vocab;
      const auto [best, gap] = TopTwoGap(row, vocab);
      base_argmax[r] = best;
      is_clear[r] = gap >= options.clear_gap;
      clear += is_clear[r];
      base.nll -= row[tokens[start + logits_rows[r] + 1]];
    }
    for (Run& run : runs) {
      LogSoftmaxRows(run.seq->Append(chunk, logits_rows), rows, vocab, lp);
      for (int64_t r = 0; r < rows; ++r) {
        const double *p = base_lp.data() + r * vocab, *q = lp.data() + r * vocab;
        double kl = 0.0;
        for (int64_t i = 0; i < vocab; ++i) kl += std::exp(p[i]) * (p[i] - q[i]);
        run.kl += kl;
        run.nll -= q[tokens[start + logits_rows[r] + 1]];
        const bool agree = TopTwoGap(q, vocab).first == base_argmax[r];
        run.agree += agree;
        run.agree_clear += agree && is_clear[r];
      }
    }
    scored += rows;
  }
  std::vector<TeacherForcedResult> results;
  const double base_ppl = std::exp(base.nll / scored);
  results.push_back({baseline.name, scored, base_ppl, base_ppl, 0.0, 1.0, clear, 1.0});
  for (size_t i = 0; i < runs.size(); ++i) {
    results.push_back({profiles[i]->name, scored, std::exp(runs[i].nll / scored), base_ppl,
                       runs[i].kl / scored, double(runs[i].agree) / scored, clear,
                       clear > 0 ? double(runs[i].agree_clear) / clear : 1.0});
  }
  return results;
}

}  // namespace xq
