// Parsing OpenAI request bodies: parameters land in SamplingParams, unknown fields are ignored,
// and every wrong type or range is a 400 that names the field.
#include "server/core/openai_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/core/api_error.h"
#include "server/core/json_fields.h"

namespace xq {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr int64_t kVocab = 1000;

json Chat(json extra = json::object()) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  body.update(extra);
  return body;
}

// The ApiError a parse throws (fails the test when none is thrown).
ApiError ChatError(const json& body) {
  try {
    ParseChatRequest(body, kVocab);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << body.dump();
  return ApiError(0, "", "");
}

ApiError CompletionError(const json& body) {
  try {
    ParseCompletionRequest(body, kVocab);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << body.dump();
  return ApiError(0, "", "");
}

TEST(OpenAiRequest, ChatParametersMapToSamplingParams) {
  const OpenAiRequest r = ParseChatRequest(Chat({{"temperature", 0.5},
                                                 {"top_p", 0.9},
                                                 {"n", 3},
                                                 {"stop", "END"},
                                                 {"seed", 42},
                                                 {"max_completion_tokens", 7},
                                                 {"presence_penalty", 0.25},
                                                 {"frequency_penalty", -0.5},
                                                 {"logit_bias", {{"5", 2.5}, {"17", -100}}},
                                                 {"logprobs", true},
                                                 {"top_logprobs", 3},
                                                 {"user", "u1"},
                                                 {"top_k", 40},
                                                 {"min_p", 0.05},
                                                 {"repetition_penalty", 1.1},
                                                 {"ignore_eos", true},
                                                 {"min_tokens", 2},
                                                 {"stop_token_ids", {3, 4}},
                                                 {"priority", -2},
                                                 {"stream", true},
                                                 {"stream_options", {{"include_usage", true}}},
                                                 {"some_future_field", {{"x", 1}}}}),
                                           kVocab);
  EXPECT_EQ(r.kind, ApiKind::kChat);
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].content, "hi");
  const SamplingParams& p = r.params;
  EXPECT_FLOAT_EQ(p.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.n, 3);
  EXPECT_EQ(p.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_TRUE(r.max_tokens_given);
  EXPECT_EQ(r.max_tokens_field, "max_completion_tokens");
  EXPECT_FLOAT_EQ(p.presence_penalty, 0.25f);
  EXPECT_FLOAT_EQ(p.frequency_penalty, -0.5f);
  EXPECT_EQ(p.logit_bias.size(), 2u);
  EXPECT_FLOAT_EQ(p.logit_bias.at(17), -100.0f);
  EXPECT_TRUE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_EQ(r.user, "u1");
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_EQ(p.min_tokens, 2);
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(r.priority, -2);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(OpenAiRequest, ChatContentPartsAndDefaults) {
  const OpenAiRequest r = ParseChatRequest(
      {{"messages",
        {{{"role", "system"}, {"content", nullptr}},
         {{"role", "user"},
          {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}}},
      kVocab);
  EXPECT_EQ(r.messages[0].content, "");
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_FALSE(r.max_tokens_given);
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.params.n, 1);
  EXPECT_FALSE(r.params.seed.has_value());
}

TEST(OpenAiRequest, WrongTypesNameTheField) {
  struct Case {
    json extra;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"temperature", "hot"}}, "temperature"},
      {{{"max_tokens", -1}}, "max_tokens"},
      {{{"max_tokens", 0}}, "max_tokens"},
      {{{"max_tokens", 1e12}}, "max_tokens"},
      {{{"max_tokens", 2.5}}, "max_tokens"},
      {{{"n", 0}}, "n"},
      {{{"n", "2"}}, "n"},
      {{{"stop", {1, 2}}}, "stop[0]"},
      {{{"seed", "x"}}, "seed"},
      // 2^63 and -2^63 - 2048 as floats: past int64 by the first value a double holds beyond it
      // (converting them to int64 would be undefined; 2^63 equals double(INT64_MAX)).
      {{{"seed", 9223372036854775808.0}}, "seed"},
      {{{"seed", -9223372036854777856.0}}, "seed"},
      {{{"seed", 1e300}}, "seed"},
      {{{"stream", "yes"}}, "stream"},
      {{{"stream", true}, {"stream_options", {{"include_usage", 1}}}},
       "stream_options.include_usage"},
      {{{"stream_options", {{"include_usage", true}}}}, "stream_options"},
      {{{"logit_bias", {{"abc", 1}}}}, "logit_bias"},
      {{{"logit_bias", {{"5000", 1}}}}, "logit_bias"},
      {{{"logit_bias", {{"5", 1000}}}}, "logit_bias"},
      {{{"logprobs", 1}}, "logprobs"},
      {{{"top_logprobs", 30}, {"logprobs", true}}, "top_logprobs"},
      {{{"top_logprobs", 2}}, "top_logprobs"},
      {{{"top_p", 2.0}}, "top_p"},
      {{{"temperature", -1}}, "temperature"},
      {{{"temperature", 2.5}}, "temperature"},  // OpenAI's range is [0, 2]
      {{{"presence_penalty", 3}}, "presence_penalty"},
      {{{"stop_token_ids", {1, -1}}}, "stop_token_ids[1]"},
      {{{"min_tokens", 10}, {"max_tokens", 5}}, "min_tokens"},
      {{{"model", 3}}, "model"},
      {{{"priority", "high"}}, "priority"},
      {{{"priority", 2000000}}, "priority"},
      {{{"messages", json::array()}}, "messages"},
      {{{"messages", "hi"}}, "messages"},
      {{{"messages", {{{"role", 1}, {"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {{{"role", ""}, {"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}}, {{"role", "root"}, {"content", "x"}}}}},
       "messages[1].role"},
      {{{"messages", {{{"role", "user"}, {"content", 5}}}}}, "messages[0].content"},
      {{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}},
       "messages[0].content[0].type"},
  };
  for (const Case& c : cases) {
    const ApiError e = ChatError(Chat(c.extra));
    EXPECT_EQ(e.status(), 400) << c.extra.dump();
    EXPECT_EQ(e.param(), c.param) << c.extra.dump() << " -> " << e.what();
    EXPECT_EQ(e.type(), "invalid_request_error");
    EXPECT_THAT(std::string(e.what()), HasSubstr(c.param.substr(0, c.param.find('['))))
        << c.extra.dump();
  }
  EXPECT_EQ(ChatError({{"model", "m"}}).param(), "messages");
}

TEST(OpenAiRequest, CompletionPromptForms) {
  const OpenAiRequest text = ParseCompletionRequest({{"prompt", "hello"}, {"echo", true}}, kVocab);
  EXPECT_EQ(text.prompt_text, "hello");
  EXPECT_FALSE(text.prompt_ids.has_value());
  EXPECT_TRUE(text.echo);
  EXPECT_EQ(text.params.max_tokens, 16);  // OpenAI's completions default
  EXPECT_EQ(ParseCompletionRequest({{"prompt", {"one"}}}, kVocab).prompt_text, "one");
  const OpenAiRequest ids = ParseCompletionRequest({{"prompt", {1, 2, 3}}}, kVocab);
  EXPECT_EQ(ids.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(ParseCompletionRequest({{"prompt", {{7, 8}}}}, kVocab).prompt_ids,
            (std::vector<int32_t>{7, 8}));
  const OpenAiRequest lp = ParseCompletionRequest({{"prompt", "x"}, {"logprobs", 3}}, kVocab);
  EXPECT_TRUE(lp.params.logprobs);
  EXPECT_EQ(lp.params.top_logprobs, 3);
  const OpenAiRequest lp0 = ParseCompletionRequest({{"prompt", "x"}, {"logprobs", 0}}, kVocab);
  EXPECT_TRUE(lp0.params.logprobs);
  EXPECT_EQ(lp0.params.top_logprobs, 0);
}

TEST(OpenAiRequest, CompletionErrors) {
  EXPECT_EQ(CompletionError(json::object()).param(), "prompt");
  EXPECT_EQ(CompletionError({{"prompt", 5}}).param(), "prompt");
  EXPECT_EQ(CompletionError({{"prompt", {"a", {1, 2}}}}).param(), "prompt");  // mixed batch
  EXPECT_EQ(CompletionError({{"prompt", {"a", 5}}}).param(), "prompt[1]");
  EXPECT_EQ(CompletionError({{"prompt", {"a", "b"}}, {"stream", true}}).param(), "prompt");
  EXPECT_EQ(CompletionError({{"prompt", {1, kVocab}}}).param(), "prompt[1]");
  EXPECT_EQ(CompletionError({{"prompt", "x"}, {"logprobs", true}}).param(), "logprobs");
  EXPECT_EQ(CompletionError({{"prompt", "x"}, {"logprobs", 21}}).param(), "logprobs");
  EXPECT_EQ(CompletionError({{"prompt", "x"}, {"echo", "no"}}).param(), "echo");
}

TEST(JsonBody, MalformedInvalidUtf8AndNonObjects) {
  for (const std::string body : {"{bad", "", "[1,2]", "\"text\"", "{\"prompt\": \"\xff\xfe\"}"}) {
    try {
      ParseJsonObject(body);
      ADD_FAILURE() << "accepted " << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.code(), "invalid_json");
    }
  }
  EXPECT_EQ(ParseJsonObject(R"({"a": 1})")["a"], 1);
}

TEST(ApiErrorShape, HasOpenAiFields) {
  const json body = InvalidRequestError("max_tokens", "must be >= 1").ToJson();
  ASSERT_TRUE(body.contains("error"));
  const json& e = body["error"];
  EXPECT_EQ(e["message"], "max_tokens: must be >= 1");
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_EQ(e["param"], "max_tokens");
  EXPECT_TRUE(e["code"].is_null());
  EXPECT_EQ(DumpJson(json("\xff")), "\"\xEF\xBF\xBD\"");  // invalid UTF-8 never throws
}

}  // namespace
}  // namespace xq

namespace xq {
namespace {

TEST(OpenAiRequest, APromptListSplitsIntoOneRequestPerPrompt) {
  const OpenAiRequest texts =
      ParseCompletionRequest({{"prompt", {"a", "b", "c"}}, {"n", 2}, {"max_tokens", 3}}, 100);
  const std::vector<OpenAiRequest> parts = SplitPromptBatch(texts);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].prompt_text, "c");
  EXPECT_EQ(parts[2].params.n, 2);
  EXPECT_EQ(parts[2].params.max_tokens, 3);
  EXPECT_TRUE(parts[0].batch_texts.empty());
  const OpenAiRequest ids = ParseCompletionRequest({{"prompt", {{1, 2}, {3}}}}, 100);
  const std::vector<OpenAiRequest> id_parts = SplitPromptBatch(ids);
  ASSERT_EQ(id_parts.size(), 2u);
  EXPECT_EQ(*id_parts[1].prompt_ids, std::vector<int32_t>{3});
  EXPECT_EQ(SplitPromptBatch(ParseCompletionRequest({{"prompt", "x"}}, 100)).size(), 1u);
}

}  // namespace
}  // namespace xq
