// OpenAI response bodies and stream chunks: shapes the official clients parse, finish_reason
// null until the end, usage with cached tokens, both logprobs layouts.
#include "server/core/openai_response.h"

#include <gtest/gtest.h>

#include "tests/support/tiny_model.h"

namespace xq {
namespace {

using json = nlohmann::json;

class ResponseTest : public ::testing::Test {
 protected:
  ResponseTest() : tokenizer_(test::TinyByteLevelSpec()) {}

  int32_t Id(const std::string& text) {
    auto ids = tokenizer_.Encode(text, false, false);
    EXPECT_EQ(ids.size(), 1u) << text;
    return ids.at(0);
  }

  Tokenizer tokenizer_;
};

TEST_F(ResponseTest, ChatFinalBody) {
  SamplingParams p;
  p.logprobs = true;
  p.top_logprobs = 1;
  ResponseFormatter f(ApiKind::kChat, "chatcmpl-1", "tiny", 123, tokenizer_, p);
  ChoiceResult c;
  SequenceDelta d;
  d.text = " the";
  d.tokens = {{Id(" the"), -0.5f, {{Id(" the"), -0.5f}}}};
  d.finish = FinishKind::kStop;
  d.stop_reason = "END";
  c.Append(d);
  Usage u{7, 1, 4};
  const json body = f.Final({c}, u);
  EXPECT_EQ(body["id"], "chatcmpl-1");
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["created"], 123);
  EXPECT_EQ(body["model"], "tiny");
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], " the");
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["stop_reason"], "END");
  const json& lp = choice["logprobs"]["content"][0];
  EXPECT_EQ(lp["token"], " the");
  EXPECT_FLOAT_EQ(lp["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(lp["bytes"], json({' ', 't', 'h', 'e'}));
  EXPECT_EQ(lp["top_logprobs"][0]["token"], " the");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(body["usage"]["completion_tokens"], 1);
  EXPECT_EQ(body["usage"]["total_tokens"], 8);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST_F(ResponseTest, CompletionLogprobsOffsetsAccumulate) {
  SamplingParams p;
  p.logprobs = true;
  p.top_logprobs = 2;
  ResponseFormatter f(ApiKind::kCompletion, "cmpl-1", "tiny", 1, tokenizer_, p);
  ChoiceResult c;
  SequenceDelta d;
  d.text = " theis";
  d.tokens = {{Id(" the"), -1.0f, {{Id(" the"), -1.0f}, {Id("is"), -2.0f}}},
              {Id("is"), -0.25f, {{Id("is"), -0.25f}}}};
  d.finish = FinishKind::kLength;
  c.Append(d);
  const json body = f.Final({c}, Usage{3, 2, 0});
  EXPECT_EQ(body["object"], "text_completion");
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["text"], " theis");
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_TRUE(choice["stop_reason"].is_null());
  const json& lp = choice["logprobs"];
  EXPECT_EQ(lp["tokens"], json({" the", "is"}));
  EXPECT_EQ(lp["text_offset"], json({0, 4}));
  EXPECT_FLOAT_EQ(lp["token_logprobs"][1].get<float>(), -0.25f);
  EXPECT_FLOAT_EQ(lp["top_logprobs"][0]["is"].get<float>(), -2.0f);
}

TEST_F(ResponseTest, StreamChunks) {
  SamplingParams p;
  p.n = 2;
  ResponseFormatter f(ApiKind::kChat, "chatcmpl-2", "tiny", 5, tokenizer_, p);
  f.set_include_usage(true);
  const json role = f.RoleChunk(1);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["index"], 1);
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(role.contains("usage") && role["usage"].is_null());

  SequenceDelta mid;
  mid.index = 1;
  mid.text = "ab";
  const json a = f.DeltaChunk(mid);
  EXPECT_EQ(a["choices"][0]["delta"]["content"], "ab");
  EXPECT_TRUE(a["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(a["choices"][0]["logprobs"].is_null());

  SequenceDelta last;
  last.index = 0;
  last.finish = FinishKind::kLength;
  const json b = f.DeltaChunk(last);
  EXPECT_EQ(b["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(b["choices"][0]["delta"], json::object());

  const json usage = f.UsageChunk(Usage{3, 4, 0});
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 7);

  EXPECT_EQ(SseData(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_STREQ(kSseDone, "data: [DONE]\n\n");
}

TEST_F(ResponseTest, CompletionStreamOffsetsContinueAcrossChunks) {
  SamplingParams p;
  p.logprobs = true;
  ResponseFormatter f(ApiKind::kCompletion, "cmpl-3", "tiny", 5, tokenizer_, p);
  SequenceDelta d1;
  d1.text = " the";
  d1.tokens = {{Id(" the"), -1.0f, {}}};
  SequenceDelta d2;
  d2.text = "is";
  d2.tokens = {{Id("is"), -1.0f, {}}};
  d2.finish = FinishKind::kStop;
  EXPECT_EQ(f.DeltaChunk(d1)["choices"][0]["logprobs"]["text_offset"], json({0}));
  const json second = f.DeltaChunk(d2);
  EXPECT_EQ(second["choices"][0]["logprobs"]["text_offset"], json({4}));
  EXPECT_EQ(second["choices"][0]["text"], "is");
  EXPECT_EQ(second["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(second.contains("usage"));
}

TEST(FinishReason, Names) {
  EXPECT_TRUE(FinishReasonJson(FinishKind::kNone).is_null());
  EXPECT_EQ(FinishReasonJson(FinishKind::kStop), "stop");
  EXPECT_EQ(FinishReasonJson(FinishKind::kLength), "length");
  EXPECT_EQ(FinishReasonJson(FinishKind::kAbort), "abort");
  EXPECT_EQ(FinishReasonJson(FinishKind::kError), "error");
}

}  // namespace
}  // namespace xq
