// GrammarCompiler + the per-sequence constraint on the default model's vocabulary. Random logits
// drive the draw, so without a working mask the text would be noise: every finished walk must
// match its grammar exactly. Plus the errors a client gets for grammars that cannot be enforced.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "engine/common/error.h"
#include "engine/grammar/grammar_compiler.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/sampling/logits_processor.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/sequence_sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/include/row_sampling.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class GrammarTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(XQ_DEFAULT_MODEL)) return;
    GgufFile file(XQ_DEFAULT_MODEL);
    tokenizer_ = new Tokenizer(TokenizerSpecFromGguf(file));
    for (int32_t id = 0; id < tokenizer_->vocab_size(); ++id) {
      if (tokenizer_->IsEndOfGeneration(id)) eos_.push_back(id);
    }
    compiler_ = new GrammarCompiler(*tokenizer_, tokenizer_->vocab_size(), eos_);
  }
  static void TearDownTestSuite() {
    delete compiler_;
    delete tokenizer_;
    compiler_ = nullptr;
    tokenizer_ = nullptr;
  }
  void SetUp() override {
    if (!tokenizer_) XQ_SKIP_OR_FAIL() << "default model missing: run `make model`";
  }

  struct Walk {
    std::string text;
    bool ended = false;  // drew a stop token
    int32_t tokens = 0;
  };

  // Draws the most likely allowed token under random logits until a stop token or max_tokens.
  // closing_bias is added to the stop tokens and to tokens that close a JSON string, array or
  // object, so that walks through open-ended grammars come to an end.
  static Walk RandomWalk(const GrammarSpec& spec, uint32_t seed, int32_t max_tokens = 300,
                         float closing_bias = 0.0f) {
    auto constraint = MakeGrammarConstraint(compiler_->Compile(spec), eos_);
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 3.0f);
    std::vector<float> logits(static_cast<size_t>(tokenizer_->vocab_size()));
    Walk walk;
    for (; walk.tokens < max_tokens; ++walk.tokens) {
      for (float& l : logits) l = noise(rng);
      if (closing_bias != 0.0f) {
        for (size_t t = 0; t < logits.size(); ++t) {
          const std::string bytes = tokenizer_->TokenBytes(static_cast<int32_t>(t));
          if (bytes.find_first_of("\"]}") != std::string::npos) logits[t] += closing_bias;
        }
        for (int32_t id : eos_) logits[id] += closing_bias;
      }
      constraint->MaskLogits(logits);
      const int32_t token = ArgMax(logits);
      EXPECT_TRUE(constraint->Accept(token)) << "the mask allowed token " << token;
      if (std::find(eos_.begin(), eos_.end(), token) != eos_.end()) {
        walk.ended = true;
        break;
      }
      walk.text += tokenizer_->TokenBytes(token);
    }
    return walk;
  }

  static inline Tokenizer* tokenizer_ = nullptr;
  static inline GrammarCompiler* compiler_ = nullptr;
  static inline std::vector<int32_t> eos_;
};

TEST_F(GrammarTest, JsonSchemaWalksProduceConformingDocuments) {
  const std::string schema = R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 6},
      "age": {"type": "integer", "minimum": 0, "maximum": 120},
      "color": {"enum": ["red", "green", "blue"]},
      "ok": {"type": "boolean"}
    },
    "required": ["name", "age", "color", "ok"],
    "additionalProperties": false
  })";
  const GrammarSpec spec{GrammarKind::kJsonSchema, schema, {}, "response_format"};
  for (uint32_t seed = 0; seed < 8; ++seed) {
    const Walk walk = RandomWalk(spec, seed);
    ASSERT_TRUE(walk.ended) << "seed " << seed << ": " << walk.text;
    const nlohmann::json doc = nlohmann::json::parse(walk.text, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << walk.text;
    EXPECT_EQ(doc.size(), 4u) << walk.text;
    ASSERT_TRUE(doc["name"].is_string());
    EXPECT_LE(doc["name"].get<std::string>().size(), 6u * 4) << walk.text;  // code points
    ASSERT_TRUE(doc["age"].is_number_integer()) << walk.text;
    EXPECT_GE(doc["age"].get<int>(), 0);
    EXPECT_LE(doc["age"].get<int>(), 120);
    EXPECT_THAT((std::vector<std::string>{"red", "green", "blue"}),
                ::testing::Contains(doc["color"].get<std::string>()));
    EXPECT_TRUE(doc["ok"].is_boolean());
  }
}

TEST_F(GrammarTest, JsonObjectWalksProduceObjects) {
  // Free-form JSON can nest without end under plain random logits; a bias toward closing
  // brackets and quotes brings every walk home.
  for (uint32_t seed = 0; seed < 8; ++seed) {
    const Walk walk =
        RandomWalk({GrammarKind::kJsonObject, "", {}, "response_format"}, seed, 400, 6.0f);
    ASSERT_TRUE(walk.ended) << "seed " << seed << ": " << walk.text;
    EXPECT_TRUE(nlohmann::json::parse(walk.text, nullptr, false).is_object()) << walk.text;
  }
}

TEST_F(GrammarTest, RegexChoiceAndEbnfWalksMatch) {
  const std::regex plate("[a-z]{3,6}-[0-9]{2}");
  const std::vector<std::string> choices = {"positive", "negative", "neutral (mixed)", "\"q\"\n"};
  for (uint32_t seed = 0; seed < 6; ++seed) {
    const Walk regex =
        RandomWalk({GrammarKind::kRegex, "[a-z]{3,6}-[0-9]{2}", {}, "guided_regex"}, seed);
    ASSERT_TRUE(regex.ended);
    EXPECT_TRUE(std::regex_match(regex.text, plate)) << regex.text;

    const Walk choice = RandomWalk({GrammarKind::kChoice, "", choices, "guided_choice"}, seed);
    ASSERT_TRUE(choice.ended);
    EXPECT_THAT(choices, ::testing::Contains(choice.text));

    const Walk ebnf = RandomWalk(
        {GrammarKind::kEbnf, R"(root ::= ("yes" | "no") " " [0-9] [0-9]?)", {}, "guided_grammar"},
        seed);
    ASSERT_TRUE(ebnf.ended);
    EXPECT_TRUE(std::regex_match(ebnf.text, std::regex("(yes|no) [0-9][0-9]?"))) << ebnf.text;
  }
}

TEST_F(GrammarTest, TheMaskRefusesWhatTheGrammarForbids) {
  auto constraint = MakeGrammarConstraint(
      compiler_->Compile({GrammarKind::kChoice, "", {"yes", "no"}, "guided_choice"}), eos_);
  std::vector<float> logits(static_cast<size_t>(tokenizer_->vocab_size()), 0.0f);
  constraint->MaskLogits(logits);
  int allowed = 0;
  for (size_t t = 0; t < logits.size(); ++t) {
    if (logits[t] == 0.0f) {
      ++allowed;
      const std::string bytes = tokenizer_->TokenBytes(static_cast<int32_t>(t));
      EXPECT_TRUE(std::string("yes").starts_with(bytes) || std::string("no").starts_with(bytes))
          << "allowed token " << t << " \"" << bytes << "\"";
    }
  }
  EXPECT_GE(allowed, 2);
  EXPECT_LT(allowed, 20);
  EXPECT_FALSE(constraint->Accept(eos_.front()));  // the grammar has not matched anything yet
}

TEST_F(GrammarTest, ACompleteGrammarStillEndsBeforeMinTokens) {
  // min_tokens masks the stop tokens, but once the grammar is complete nothing else may come.
  SamplingParams params;
  params.temperature = 0.0f;
  params.min_tokens = 50;
  params.max_tokens = 50;
  auto constraint = MakeGrammarConstraint(
      compiler_->Compile({GrammarKind::kChoice, "", {"no"}, "guided_choice"}), eos_);
  SequenceSampler sampler(params, {}, eos_, 0, std::move(constraint));
  std::vector<float> logits(static_cast<size_t>(tokenizer_->vocab_size()), 0.0f);
  std::string text;
  SampleResult r;
  for (int i = 0; i < 10 && !sampler.finished(); ++i) {
    r = sampler.Next(logits);
    if (!r.is_stop_token) text += tokenizer_->TokenBytes(r.token);
  }
  EXPECT_EQ(text, "no");
  EXPECT_TRUE(r.is_stop_token);
  EXPECT_EQ(sampler.finish_reason(), FinishReason::kStop);
}

TEST_F(GrammarTest, ACompleteGrammarEndsTheSequenceEvenWithIgnoreEos) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.ignore_eos = true;
  params.max_tokens = 50;
  auto constraint =
      MakeGrammarConstraint(compiler_->Compile({GrammarKind::kChoice, "", {"no"}, "guided_choice"}),
                            StopTokenIds(params, eos_));
  SequenceSampler sampler(params, {}, eos_, 0, std::move(constraint));
  std::vector<float> logits(static_cast<size_t>(tokenizer_->vocab_size()), 0.0f);
  std::string text;
  int steps = 0;
  for (; steps < 10 && !sampler.finished(); ++steps) {
    const SampleResult r = sampler.Next(logits);
    if (!r.is_stop_token) text += tokenizer_->TokenBytes(r.token);
  }
  EXPECT_EQ(sampler.finish_reason(), FinishReason::kStop);
  EXPECT_LE(steps, 4);
  EXPECT_TRUE(text.starts_with("no")) << text;
}

// A runner's step, done here on the host as the CUDA runner does it on the device: the grammar's
// bitmask, then the edits, then the draw (kernels/include/row_sampling.h), then Accept.
// masked_rows counts the rows that went up with a bitmask.
SampleResult RunnerStep(SequenceSampler& sampler, std::vector<float> logits, int& masked_rows) {
  const auto vocab = static_cast<int64_t>(logits.size());
  std::vector<LogitEdit> edits;
  std::vector<uint32_t> allowed;
  RowSampling row;
  sampler.RowForRunner(vocab, edits, allowed, row);
  if (row.allowed_tokens >= 0) {
    ++masked_rows;
    const uint32_t* words = allowed.data() + row.allowed_tokens * AllowedTokenWords(vocab);
    for (int64_t t = 0; t < vocab; ++t) {
      if (!TokenAllowed(words, t)) logits[t] = -INFINITY;
    }
  }
  ApplyLogitEdits(logits, edits);
  return sampler.Accept(SampleRowReference(logits.data(), vocab, row));
}

// A constrained row sampled by the runner (bitmask up, token back) gives the sequence Next gives
// from the whole row: the same tokens, the same ends, through a schema, a grammar complete
// before min_tokens and one complete under ignore_eos. Seeded draws with a top_k, so both
// compute the weights with std::exp and pick the same token bit for bit.
TEST_F(GrammarTest, RowsSampledByARunnerFollowTheGrammarAsNextDoes) {
  const GrammarSpec schema{GrammarKind::kJsonSchema,
                           R"({"type": "object", "properties": {"n": {"type": "integer"}},
                               "required": ["n"], "additionalProperties": false})",
                           {},
                           "response_format"};
  const GrammarSpec choice{GrammarKind::kChoice, "", {"no", "yes"}, "guided_choice"};
  struct Case {
    GrammarSpec spec;
    int32_t min_tokens;
    bool ignore_eos;
  };
  int masked_rows = 0;
  for (const Case& c : {Case{schema, 4, false}, Case{choice, 50, false}, Case{choice, 0, true}}) {
    for (uint64_t seed = 0; seed < 6; ++seed) {
      SamplingParams params;
      params.temperature = 1.3f;
      params.top_k = 200;
      params.seed = seed;
      params.min_tokens = c.min_tokens;
      params.max_tokens = 60;
      params.ignore_eos = c.ignore_eos;
      const auto compiled = compiler_->Compile(c.spec);
      SequenceSampler host(params, {}, eos_, 0,
                           MakeGrammarConstraint(compiled, StopTokenIds(params, eos_)));
      SequenceSampler runner(params, {}, eos_, 0,
                             MakeGrammarConstraint(compiled, StopTokenIds(params, eos_)));
      std::mt19937 rng(static_cast<uint32_t>(seed));
      std::normal_distribution<float> noise(0.0f, 2.0f);
      std::vector<float> logits(static_cast<size_t>(tokenizer_->vocab_size()));
      for (int step = 0; !host.finished(); ++step) {
        ASSERT_LT(step, 60);
        for (float& l : logits) l = noise(rng);
        for (int32_t id : eos_) logits[id] += 4.0f;  // so that schema walks end
        const SampleResult want = host.Next(logits);
        const SampleResult got = RunnerStep(runner, logits, masked_rows);
        ASSERT_EQ(got.token, want.token) << c.spec.source << " seed " << seed << " step " << step;
        ASSERT_EQ(got.is_stop_token, want.is_stop_token);
        ASSERT_EQ(runner.finished(), host.finished());
      }
      EXPECT_EQ(runner.finish_reason(), host.finish_reason());
    }
  }
  EXPECT_GT(masked_rows, 50);
}

std::string CompileError(const GrammarSpec& spec, GrammarCompiler& compiler) {
  try {
    compiler.Compile(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(GrammarTest, GrammarsThatCannotBeEnforcedAreRefusedNamingTheField) {
  GrammarCompiler& c = *compiler_;
  EXPECT_THAT(CompileError({GrammarKind::kJsonSchema,
                            R"({"type": "array", "uniqueItems": true})",
                            {},
                            "response_format.json_schema.schema"},
                           c),
              AllOf(HasSubstr("response_format.json_schema.schema: "), HasSubstr("uniqueItems")));
  EXPECT_THAT(CompileError({GrammarKind::kJsonSchema, "[1, 2]", {}, "guided_json"}, c),
              HasSubstr("guided_json: must be a JSON Schema object"));
  EXPECT_THAT(
      CompileError({GrammarKind::kJsonSchema, R"({"type": "matrix"})", {}, "guided_json"}, c),
      HasSubstr("guided_json: "));
  EXPECT_THAT(CompileError({GrammarKind::kRegex, "[a-", {}, "guided_regex"}, c),
              HasSubstr("guided_regex: "));
  EXPECT_THAT(
      CompileError({GrammarKind::kEbnf, "root ::= undefined_rule", {}, "guided_grammar"}, c),
      HasSubstr("guided_grammar: "));
  EXPECT_THAT(CompileError({GrammarKind::kChoice, "", {}, "guided_choice"}, c),
              HasSubstr("guided_choice: must list at least one choice"));
}

}  // namespace
}  // namespace xq
