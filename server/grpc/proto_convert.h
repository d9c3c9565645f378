// Translation between xquant.v1 messages and server/core's request path: a GenerateRequest
// becomes an OpenAiRequest (so both frontends share defaults, validation and prompt fitting),
// and engine deltas become ChoiceDeltas. Needs only the protobuf code, not gRPC's.
#pragma once

#include <cstdint>
#include <string>

#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/core/api_error.h"
#include "server/core/openai_request.h"
#include "server/core/submit_error.h"
#include "xquant/v1/inference.pb.h"

namespace xq {

// Throws a 400 ApiError naming the proto field ("sampling.top_p", "token_ids.ids[2]", ...).
OpenAiRequest ToOpenAiRequest(const xquant::v1::GenerateRequest& request, int64_t vocab_size);

// Renames the OpenAI field an error names ("top_p", "messages[1].content", "prompt") to the
// proto field of `request` that carried it, in its param and at the head of its message; other
// errors (proto names included) pass unchanged.
ApiError ToProtoFieldError(const ApiError& error, const xquant::v1::GenerateRequest& request);
SubmitError ToProtoFieldError(const SubmitError& error, const xquant::v1::GenerateRequest& request);

xquant::v1::FinishReason ToProto(FinishKind kind);
void ToProto(const Usage& usage, xquant::v1::Usage* out);
// `with_logprobs`: the request asked for logprobs (the tokens carry them).
void ToProto(const SequenceDelta& delta, const Tokenizer& tokenizer, bool with_logprobs,
             xquant::v1::ChoiceDelta* out);

}  // namespace xq
