// The Responses API request (POST /v1/responses), read as the chat request it amounts to:
// `input` (a string or message / function_call / function_call_output items) and
// `instructions` become messages, flat function tools and `text.format` become chat's tools and
// response_format, max_output_tokens becomes max_tokens. Stateless: previous_response_id is a 400.
// Errors name the Responses field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "server/core/openai_request.h"

namespace xq {

struct ResponsesRequest {
  OpenAiRequest chat;
  // The request's own settings echoed in the response object (instructions, tools, text, ...).
  nlohmann::json echo = nlohmann::json::object();
};

// raw_body keeps a JSON schema's key order (see KeepSchemaKeyOrder).
ResponsesRequest ParseResponsesRequest(const nlohmann::json& body, std::string_view raw_body,
                                       int64_t vocab_size);

}  // namespace xq
