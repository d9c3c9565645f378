// The OpenAI request parsers (chat, completions, Responses) on arbitrary bodies: every bad body
// must be an ApiError (a 400 naming the field); any other exception would reach the client as a
// 500, so it is a finding, as are crashes and sanitizer reports. The first byte picks the API.
#include <cstdint>
#include <string_view>

#include "server/core/api_error.h"
#include "server/core/json_fields.h"
#include "server/core/openai_request.h"
#include "server/core/responses_request.h"

namespace {
constexpr int64_t kVocab = 49152;  // the default model's
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const nlohmann::json json = xq::ParseJsonObject(body);
    switch (data[0] % 3) {
      case 0:
        (void)xq::SplitPromptBatch(xq::ParseChatRequest(json, kVocab));
        break;
      case 1:
        (void)xq::SplitPromptBatch(xq::ParseCompletionRequest(json, kVocab));
        break;
      default:
        (void)xq::ParseResponsesRequest(json, body, kVocab);
        break;
    }
  } catch (const xq::ApiError&) {
  }
  return 0;
}
