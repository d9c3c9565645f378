// What POST /v1/responses answers: the response object (output items: the assistant's message,
// then one function_call item per tool call) or, streamed, its typed events (response.created,
// response.output_text.delta, ..., response.completed) as server-sent events.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/request.h"
#include "server/core/tool_call_parser.h"

namespace xq {

struct ResponseMeta {
  std::string id;  // "resp_..."
  int64_t created = 0;
  std::string model;
  nlohmann::json echo = nlohmann::json::object();  // the request's settings, as sent
  std::optional<ToolCallFormat> tools;              // set when the model may call tools
};

// The finished response object.
nlohmann::json ResponseObject(const ResponseMeta& meta, const std::string& text,
                              FinishKind finish, const Usage& usage);

class ResponseEvents {
 public:
  explicit ResponseEvents(ResponseMeta meta);
  // response.created and response.in_progress.
  std::string Start();
  // Text as it comes: opens the message item and its output_text part on the first text.
  std::string Delta(const std::string& text);
  // The done events for the text, the function calls, and response.completed (or incomplete).
  std::string Finish(FinishKind finish, const Usage& usage);

 private:
  std::string Event(nlohmann::json data);
  std::string OpenMessage();

  ResponseMeta meta_;
  int64_t sequence_ = 0;
  std::optional<ToolCallStream> tool_stream_;
  bool message_open_ = false;
  std::string text_;  // the message's text so far
  std::string raw_;   // everything generated, calls included
};

}  // namespace xq
