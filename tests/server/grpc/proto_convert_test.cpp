// xquant.v1 messages <-> server/core: defaults as over HTTP, errors naming the proto field,
// deltas with token ids, logprobs (token bytes) and finish reasons, UTF-8-safe text.
#include "server/grpc/proto_convert.h"

#include <gtest/gtest.h>

#include <limits>

#include "tests/support/tiny_model.h"

namespace xq {
namespace {

namespace pb = xquant::v1;
constexpr int64_t kVocab = 1000;

pb::GenerateRequest TextRequest(const std::string& text) {
  pb::GenerateRequest r;
  r.set_text(text);
  return r;
}

// The field the 400 ApiError thrown for `request` names, and its message.
std::pair<std::string, std::string> RejectedField(const pb::GenerateRequest& request) {
  try {
    ToOpenAiRequest(request, kVocab);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return {e.param(), e.what()};
  }
  ADD_FAILURE() << "accepted: " << request.ShortDebugString();
  return {};
}

TEST(ProtoConvert, TextPromptTakesCompletionDefaults) {
  const OpenAiRequest r = ToOpenAiRequest(TextRequest("hello"), kVocab);
  EXPECT_EQ(r.kind, ApiKind::kCompletion);
  EXPECT_EQ(r.prompt_text, "hello");
  EXPECT_FALSE(r.max_tokens_given);
  EXPECT_EQ(r.params.max_tokens, 16);
  EXPECT_EQ(r.params.temperature, 1.0f);
  EXPECT_EQ(r.params.n, 1);
  EXPECT_FALSE(r.params.seed.has_value());
}

TEST(ProtoConvert, ChatRunsToTheContextWithoutMaxTokens) {
  pb::GenerateRequest req;
  auto* m = req.mutable_chat()->add_messages();
  m->set_role("user");
  m->set_content("hi");
  const OpenAiRequest r = ToOpenAiRequest(req, kVocab);
  EXPECT_EQ(r.kind, ApiKind::kChat);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].content, "hi");
  EXPECT_EQ(r.params.max_tokens, std::numeric_limits<int32_t>::max());
}

TEST(ProtoConvert, EverySamplingFieldIsCarried) {
  pb::GenerateRequest req = TextRequest("x");
  pb::SamplingParams* s = req.mutable_sampling();
  s->set_temperature(0.5f);
  s->set_top_p(0.9f);
  s->set_top_k(-1);
  s->set_min_p(0.05f);
  s->set_max_tokens(7);
  s->set_min_tokens(2);
  s->set_n(3);
  s->add_stop("END");
  s->add_stop_token_ids(5);
  s->set_seed(42);
  s->set_presence_penalty(0.5f);
  s->set_frequency_penalty(-0.5f);
  s->set_repetition_penalty(1.1f);
  (*s->mutable_logit_bias())[9] = -100.0f;
  s->set_logprobs(true);
  s->set_top_logprobs(3);
  s->set_ignore_eos(true);
  req.set_priority(-4);
  const OpenAiRequest r = ToOpenAiRequest(req, kVocab);
  EXPECT_EQ(r.priority, -4);
  const SamplingParams& p = r.params;
  EXPECT_EQ(p.temperature, 0.5f);
  EXPECT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 0);  // -1 means off
  EXPECT_EQ(p.min_p, 0.05f);
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_EQ(p.min_tokens, 2);
  EXPECT_EQ(p.n, 3);
  EXPECT_EQ(p.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(p.stop_token_ids, std::vector<int32_t>{5});
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.presence_penalty, 0.5f);
  EXPECT_EQ(p.frequency_penalty, -0.5f);
  EXPECT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_EQ(p.logit_bias.at(9), -100.0f);
  EXPECT_TRUE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_TRUE(p.ignore_eos);
}

TEST(ProtoConvert, ErrorsNameTheProtoField) {
  EXPECT_EQ(RejectedField(pb::GenerateRequest()).first, "prompt");

  pb::GenerateRequest bad_top_p = TextRequest("x");
  bad_top_p.mutable_sampling()->set_top_p(1.5f);
  const auto [field, message] = RejectedField(bad_top_p);
  EXPECT_EQ(field, "sampling.top_p");
  EXPECT_TRUE(message.starts_with("sampling.top_p: ")) << message;

  pb::GenerateRequest top_without_logprobs = TextRequest("x");
  top_without_logprobs.mutable_sampling()->set_top_logprobs(2);
  EXPECT_EQ(RejectedField(top_without_logprobs).first, "sampling.top_logprobs");

  pb::GenerateRequest zero_tokens = TextRequest("x");
  zero_tokens.mutable_sampling()->set_max_tokens(0);
  EXPECT_EQ(RejectedField(zero_tokens).first, "sampling.max_tokens");

  pb::GenerateRequest bias = TextRequest("x");
  (*bias.mutable_sampling()->mutable_logit_bias())[kVocab] = 1.0f;
  EXPECT_EQ(RejectedField(bias).first, "sampling.logit_bias");

  pb::GenerateRequest ids;
  ids.mutable_token_ids()->add_ids(1);
  ids.mutable_token_ids()->add_ids(static_cast<int32_t>(kVocab));
  EXPECT_EQ(RejectedField(ids).first, "token_ids.ids[1]");

  pb::GenerateRequest no_ids;
  no_ids.mutable_token_ids();
  EXPECT_EQ(RejectedField(no_ids).first, "token_ids.ids");

  pb::GenerateRequest no_messages;
  no_messages.mutable_chat();
  EXPECT_EQ(RejectedField(no_messages).first, "chat.messages");
}

TEST(ProtoConvert, CoreErrorsAreRenamedToProtoFields) {
  pb::GenerateRequest ids;
  ids.mutable_token_ids()->add_ids(1);
  const ApiError prompt =
      ToProtoFieldError(InvalidRequestError("prompt", "too long", "context_length_exceeded"), ids);
  EXPECT_EQ(prompt.param(), "token_ids");
  EXPECT_EQ(std::string(prompt.what()), "token_ids: too long");
  EXPECT_EQ(prompt.code(), "context_length_exceeded");

  pb::GenerateRequest text;
  text.set_text("x");
  EXPECT_EQ(ToProtoFieldError(InvalidRequestError("prompt", "too long"), text).param(), "text");
  EXPECT_EQ(
      ToProtoFieldError(InvalidRequestError("prompt", "missing"), pb::GenerateRequest()).param(),
      "prompt");

  const ApiError max = ToProtoFieldError(InvalidRequestError("max_tokens", "too many"), ids);
  EXPECT_EQ(max.param(), "sampling.max_tokens");
  const ApiError content =
      ToProtoFieldError(InvalidRequestError("messages[1].content", "bad"), ids);
  EXPECT_EQ(content.param(), "chat.messages[1].content");

  ApiError busy(429, "rate_limit_error", "queue full", "", "queue_full");
  busy.retry_after = 3;
  const ApiError same = ToProtoFieldError(busy, ids);
  EXPECT_EQ(same.status(), 429);
  EXPECT_EQ(same.param(), "");
  EXPECT_EQ(same.retry_after, 3);
}

TEST(ProtoConvert, DeltaCarriesTokensLogprobsAndFinish) {
  const Tokenizer tokenizer(test::TinyByteLevelSpec());
  const std::vector<int32_t> ids = tokenizer.Encode(" the", false, false);
  ASSERT_EQ(ids.size(), 1u);
  SequenceDelta d;
  d.index = 2;
  d.text = " the";
  d.tokens = {{ids[0], -0.25f, {{ids[0], -0.25f}, {7, -2.0f}}}};
  d.finish = FinishKind::kStop;
  d.stop_reason = "END";

  pb::ChoiceDelta out;
  ToProto(d, tokenizer, /*with_logprobs=*/true, &out);
  EXPECT_EQ(out.index(), 2);
  EXPECT_EQ(out.text(), " the");
  ASSERT_EQ(out.token_ids_size(), 1);
  EXPECT_EQ(out.token_ids(0), ids[0]);
  ASSERT_EQ(out.logprobs_size(), 1);
  EXPECT_EQ(out.logprobs(0).token(), " the");
  EXPECT_EQ(out.logprobs(0).logprob(), -0.25f);
  ASSERT_EQ(out.logprobs(0).top_logprobs_size(), 2);
  EXPECT_EQ(out.logprobs(0).top_logprobs(1).token_id(), 7);
  EXPECT_EQ(out.logprobs(0).top_logprobs(1).token(), tokenizer.TokenBytes(7));
  EXPECT_EQ(out.finish_reason(), pb::FINISH_REASON_STOP);
  EXPECT_EQ(out.stop_reason(), "END");

  pb::ChoiceDelta plain;
  ToProto(d, tokenizer, /*with_logprobs=*/false, &plain);
  EXPECT_EQ(plain.logprobs_size(), 0);
  EXPECT_EQ(plain.token_ids_size(), 1);
}

TEST(ProtoConvert, InvalidUtf8TextIsReplacedSoTheMessageSerializes) {
  const Tokenizer tokenizer(test::TinyByteLevelSpec());
  SequenceDelta d;
  d.text = std::string("a\xff") + "b";
  pb::ChoiceDelta out;
  ToProto(d, tokenizer, false, &out);
  EXPECT_EQ(out.text(),
            "a\xEF\xBF\xBD"
            "b");
  pb::GenerateResponse response;
  *response.add_choices() = out;
  std::string wire;
  ASSERT_TRUE(response.SerializeToString(&wire));
  pb::GenerateResponse back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.choices(0).text(), out.text());
}

TEST(ProtoConvert, FinishReasonsAndUsage) {
  EXPECT_EQ(ToProto(FinishKind::kNone), pb::FINISH_REASON_UNSPECIFIED);
  EXPECT_EQ(ToProto(FinishKind::kLength), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(ToProto(FinishKind::kAbort), pb::FINISH_REASON_ABORT);
  EXPECT_EQ(ToProto(FinishKind::kError), pb::FINISH_REASON_ERROR);
  pb::Usage u;
  ToProto(Usage{12, 5, 8}, &u);
  EXPECT_EQ(u.prompt_tokens(), 12);
  EXPECT_EQ(u.completion_tokens(), 5);
  EXPECT_EQ(u.cached_tokens(), 8);
}

}  // namespace
}  // namespace xq
