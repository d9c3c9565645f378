// Tool calls read back from text (whole and streamed) in the three formats, the request fields
// checked with the field named, and the structural tag that enforces tool_choice: on the
// default model's vocabulary, random logits after a call has begun still yield a valid call.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/grammar/grammar_compiler.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/sampling/sampler.h"
#include "server/core/api_error.h"
#include "server/core/tool_call_parser.h"
#include "server/core/tool_request.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

using nlohmann::json;

TEST(ToolCallParser, HermesCallsWithContentBefore) {
  const ToolCallOutput out = ParseToolCalls(
      ToolCallFormat::kHermes,
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}"
      "\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(out.content, "Let me check.");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(out.calls[0].arguments), json({{"city", "Oslo"}}));
  EXPECT_EQ(out.calls[1].name, "get_time");
  EXPECT_TRUE(out.calls[0].id.starts_with("call_"));
  EXPECT_EQ(out.calls[0].id.size(), 29u);
  EXPECT_NE(out.calls[0].id, out.calls[1].id);
}

TEST(ToolCallParser, Llama3AndMistralFormats) {
  ToolCallOutput out = ParseToolCalls(
      ToolCallFormat::kLlama3Json,
      "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", "
      "\"parameters\": {}}");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "a");
  EXPECT_EQ(json::parse(out.calls[0].arguments), json({{"x", 1}}));
  out = ParseToolCalls(ToolCallFormat::kLlama3Json, "{\"name\": \"a\", \"parameters\": {}}");
  ASSERT_EQ(out.calls.size(), 1u);
  out = ParseToolCalls(ToolCallFormat::kMistral,
                       "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"q\": \"s\"}}]");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(json::parse(out.calls[0].arguments), json({{"q", "s"}}));
}

TEST(ToolCallParser, TextThatIsNotACallStaysContent) {
  for (const std::string text :
       {"no calls here", "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": </tool_call>",
        "<tool_call>{\"arguments\": {}}</tool_call>", "<tool_call>\n{\"name\": \"f\", \"argu"}) {
    const ToolCallOutput out = ParseToolCalls(ToolCallFormat::kHermes, text);
    EXPECT_TRUE(out.calls.empty()) << text;
    EXPECT_EQ(out.content, text);
  }
}

TEST(ToolCallParser, StreamingHoldsBackFromTheMarker) {
  ToolCallStream stream(ToolCallFormat::kHermes);
  std::string shown;
  // The marker arrives split across pieces; nothing of it may be shown as content.
  for (const char* piece : {"Sure", ", one moment <", "tool", "_call>\n{\"name\": \"f\", ",
                            "\"arguments\": {\"a\": 1}}\n</tool_call>"}) {
    shown += stream.Push(piece);
  }
  EXPECT_EQ(shown, "Sure, one moment ");
  const ToolCallOutput out = stream.Finish();
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "f");
  EXPECT_EQ(out.content, "");

  ToolCallStream plain(ToolCallFormat::kHermes);
  EXPECT_EQ(plain.Push("a < b and <tool"), "a < b and ");
  EXPECT_EQ(plain.Push("s> are fine"), "<tools> are fine");
  EXPECT_TRUE(plain.Finish().calls.empty());
}

std::string ParamOf(const json& body) {
  try {
    ParseToolRequest(body);
  } catch (const ApiError& e) {
    return e.param();
  }
  return "";
}

TEST(ToolRequestTest, FieldsAreCheckedAndNamed) {
  const json tool = {{"type", "function"},
                     {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}};
  const ToolRequest ok = ParseToolRequest(
      {{"tools", {tool}},
       {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}},
       {"parallel_tool_calls", false}});
  EXPECT_EQ(ok.choice, ToolChoice::kNamed);
  EXPECT_EQ(ok.named, "get_weather");
  EXPECT_FALSE(ok.parallel);
  EXPECT_TRUE(ok.calls_allowed());
  EXPECT_FALSE(ParseToolRequest({{"tools", {tool}}, {"tool_choice", "none"}}).calls_allowed());

  EXPECT_EQ(ParamOf({{"tools", "x"}}), "tools");
  EXPECT_EQ(ParamOf({{"tools", {{{"type", "retrieval"}}}}}), "tools[0].type");
  EXPECT_EQ(ParamOf({{"tools", {{{"type", "function"}, {"function", {{"name", "bad name"}}}}}}}),
            "tools[0].function.name");
  EXPECT_EQ(ParamOf({{"tools", {tool, tool}}}), "tools[1].function.name");
  EXPECT_EQ(ParamOf({{"tools", {{{"type", "function"},
                                 {"function", {{"name", "f"}, {"parameters", "x"}}}}}}}),
            "tools[0].function.parameters");
  EXPECT_EQ(ParamOf({{"tools", {tool}}, {"tool_choice", "sometimes"}}), "tool_choice");
  EXPECT_EQ(ParamOf({{"tools", {tool}},
                     {"tool_choice", {{"type", "function"}, {"function", {{"name", "other"}}}}}}),
            "tool_choice");
  EXPECT_EQ(ParamOf({{"tool_choice", "required"}}), "tool_choice");
}

class ToolGrammarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(XQ_DEFAULT_MODEL)) {
      XQ_SKIP_OR_FAIL() << "default model missing: run `make model`";
    }
    GgufFile file(XQ_DEFAULT_MODEL);
    tokenizer_ = std::make_unique<Tokenizer>(TokenizerSpecFromGguf(file));
    for (int32_t id = 0; id < tokenizer_->vocab_size(); ++id) {
      if (tokenizer_->IsEndOfGeneration(id)) eos_.push_back(id);
    }
    compiler_ = std::make_unique<GrammarCompiler>(*tokenizer_, tokenizer_->vocab_size(), eos_);
  }

  // Forces `prefix` token by token, then draws under random logits (biased toward closing
  // quotes and brackets, so arguments end) until a stop token.
  std::string Walk(const ToolRequest& tools, const std::string& prefix, uint32_t seed) {
    const auto tag = ToolCallStructuralTag(ToolCallFormat::kHermes, tools);
    EXPECT_TRUE(tag.has_value());
    auto constraint = MakeGrammarConstraint(
        compiler_->Compile({GrammarKind::kStructuralTag, *tag, {}, "tools"}), eos_);
    std::string text;
    for (int32_t token : tokenizer_->Encode(prefix, false)) {
      EXPECT_TRUE(constraint->Accept(token)) << "prefix token " << token << " after " << text;
      text += tokenizer_->TokenBytes(token);
    }
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 3.0f);
    std::vector<float> logits(static_cast<size_t>(tokenizer_->vocab_size()));
    for (int step = 0; step < 300; ++step) {
      for (size_t t = 0; t < logits.size(); ++t) {
        logits[t] = noise(rng);
        const std::string bytes = tokenizer_->TokenBytes(static_cast<int32_t>(t));
        if (bytes.find_first_of("\"}]") != std::string::npos) logits[t] += 6.0f;
      }
      for (int32_t id : eos_) logits[id] += 6.0f;
      constraint->MaskLogits(logits);
      const int32_t token = ArgMax(logits);
      EXPECT_TRUE(constraint->Accept(token));
      if (std::find(eos_.begin(), eos_.end(), token) != eos_.end()) return text;
      text += tokenizer_->TokenBytes(token);
    }
    ADD_FAILURE() << "no stop token after 300 draws: " << text;
    return text;
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<GrammarCompiler> compiler_;
  std::vector<int32_t> eos_;
};

TEST_F(ToolGrammarTest, ACallThatBeganEndsWellFormedWithSchemaArguments) {
  const json weather = {
      {"type", "function"},
      {"function",
       {{"name", "get_weather"},
        {"parameters",
         {{"type", "object"},
          {"properties", {{"city", {{"type", "string"}, {"maxLength", 12}}},
                          {"unit", {{"enum", {"celsius", "fahrenheit"}}}}}},
          {"required", {"city", "unit"}},
          {"additionalProperties", false}}}}}};
  ToolRequest auto_choice;
  auto_choice.tools = json::array({weather});
  auto_choice.parallel = false;
  for (uint32_t seed = 0; seed < 4; ++seed) {
    // auto: free text, then once the model writes the marker the call must be well formed.
    const std::string text = Walk(auto_choice, "Checking. <tool_call>\n{\"name\": \"get_", seed);
    const ToolCallOutput out = ParseToolCalls(ToolCallFormat::kHermes, text);
    ASSERT_EQ(out.calls.size(), 1u) << text;
    EXPECT_EQ(out.content, "Checking.");
    EXPECT_EQ(out.calls[0].name, "get_weather");
    const json args = json::parse(out.calls[0].arguments);
    EXPECT_TRUE(args["city"].is_string());
    EXPECT_TRUE(args["unit"] == "celsius" || args["unit"] == "fahrenheit") << args;
  }
  // required: nothing but a call, from the first token.
  ToolRequest required = auto_choice;
  required.choice = ToolChoice::kRequired;
  const std::string text = Walk(required, "", 9);
  EXPECT_TRUE(text.starts_with("<tool_call>\n{\"name\": \"get_weather\"")) << text;
  EXPECT_EQ(ParseToolCalls(ToolCallFormat::kHermes, text).calls.size(), 1u) << text;
}

}  // namespace
}  // namespace xq
