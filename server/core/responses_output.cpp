#include "server/core/responses_output.h"

#include "server/core/api_error.h"

namespace xq {
namespace {

nlohmann::json UsageObject(const Usage& u) {
  return {{"input_tokens", u.prompt_tokens},
          {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"output_tokens", u.completion_tokens},
          {"output_tokens_details", {{"reasoning_tokens", 0}}},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

std::string MessageId(const ResponseMeta& meta) { return "msg_" + meta.id.substr(5); }

nlohmann::json TextPart(const std::string& text) {
  return {{"type", "output_text"}, {"text", text}, {"annotations", nlohmann::json::array()}};
}

nlohmann::json MessageItem(const ResponseMeta& meta, const std::string& text, const char* status) {
  nlohmann::json content = nlohmann::json::array();
  if (!text.empty() || std::string(status) != "in_progress") content.push_back(TextPart(text));
  return {{"type", "message"},
          {"id", MessageId(meta)},
          {"status", status},
          {"role", "assistant"},
          {"content", std::move(content)}};
}

nlohmann::json CallItem(const ToolCall& call) {
  return {{"type", "function_call"},
          {"id", "fc_" + call.id.substr(5)},
          {"call_id", call.id},
          {"name", call.name},
          {"arguments", call.arguments},
          {"status", "completed"}};
}

const char* Status(FinishKind finish) {
  switch (finish) {
    case FinishKind::kLength:
      return "incomplete";
    case FinishKind::kAbort:
      return "cancelled";
    case FinishKind::kError:
      return "failed";
    default:
      return "completed";
  }
}

nlohmann::json Envelope(const ResponseMeta& meta, const char* status, nlohmann::json output,
                        const Usage* usage) {
  nlohmann::json r = {{"id", meta.id},
                      {"object", "response"},
                      {"created_at", meta.created},
                      {"status", status},
                      {"model", meta.model},
                      {"output", std::move(output)},
                      {"error", nullptr},
                      {"incomplete_details", nullptr},
                      {"store", false},
                      {"previous_response_id", nullptr},
                      {"instructions", nullptr},
                      {"metadata", nlohmann::json::object()},
                      {"tools", nlohmann::json::array()},
                      {"tool_choice", "auto"},
                      {"parallel_tool_calls", true},
                      {"text", {{"format", {{"type", "text"}}}}},
                      {"usage", usage ? UsageObject(*usage) : nlohmann::json(nullptr)}};
  for (const auto& [key, value] : meta.echo.items()) r[key] = value;
  if (std::string(status) == "incomplete") {
    r["incomplete_details"] = {{"reason", "max_output_tokens"}};
  }
  return r;
}

// The output items of a finished generation.
nlohmann::json OutputItems(const ResponseMeta& meta, const std::string& text) {
  ToolCallOutput out{text, {}};
  if (meta.tools) out = ParseToolCalls(*meta.tools, text);
  nlohmann::json items = nlohmann::json::array();
  if (!out.content.empty() || out.calls.empty()) {
    items.push_back(MessageItem(meta, out.content, "completed"));
  }
  for (const ToolCall& call : out.calls) items.push_back(CallItem(call));
  return items;
}

}  // namespace

nlohmann::json ResponseObject(const ResponseMeta& meta, const std::string& text,
                              FinishKind finish, const Usage& usage) {
  return Envelope(meta, Status(finish), OutputItems(meta, text), &usage);
}

ResponseEvents::ResponseEvents(ResponseMeta meta) : meta_(std::move(meta)) {
  if (meta_.tools) tool_stream_.emplace(*meta_.tools);
}

std::string ResponseEvents::Event(nlohmann::json data) {
  data["sequence_number"] = sequence_++;
  return "event: " + data["type"].get<std::string>() + "\ndata: " + DumpJson(data) + "\n\n";
}

std::string ResponseEvents::Start() {
  const nlohmann::json r = Envelope(meta_, "in_progress", nlohmann::json::array(), nullptr);
  std::string out = Event({{"type", "response.created"}, {"response", r}});
  return out + Event({{"type", "response.in_progress"}, {"response", r}});
}

std::string ResponseEvents::OpenMessage() {
  message_open_ = true;
  std::string out = Event({{"type", "response.output_item.added"},
                           {"output_index", 0},
                           {"item", MessageItem(meta_, "", "in_progress")}});
  return out + Event({{"type", "response.content_part.added"},
                {"item_id", MessageId(meta_)},
                {"output_index", 0},
                {"content_index", 0},
                {"part", TextPart("")}});
}

std::string ResponseEvents::Delta(const std::string& text) {
  raw_ += text;
  const std::string shown = tool_stream_ ? tool_stream_->Push(text) : text;
  if (shown.empty()) return "";
  std::string out = message_open_ ? "" : OpenMessage();
  text_ += shown;
  out += Event({{"type", "response.output_text.delta"},
                 {"item_id", MessageId(meta_)},
                 {"output_index", 0},
                 {"content_index", 0},
                 {"delta", shown}});
  return out;
}

std::string ResponseEvents::Finish(FinishKind finish, const Usage& usage) {
  std::string out;
  std::vector<ToolCall> calls;
  if (tool_stream_) {
    ToolCallOutput rest = tool_stream_->Finish();
    if (!rest.content.empty()) out += Delta(rest.content);  // held text that was not a call
    calls = std::move(rest.calls);
  }
  if (!message_open_ && calls.empty()) out += OpenMessage();  // an empty answer is a message too
  int output_index = 0;
  if (message_open_) {
    const nlohmann::json id = MessageId(meta_);
    out += Event({{"type", "response.output_text.done"}, {"item_id", id}, {"output_index", 0},
                  {"content_index", 0}, {"text", text_}});
    out += Event({{"type", "response.content_part.done"}, {"item_id", id}, {"output_index", 0},
                  {"content_index", 0}, {"part", TextPart(text_)}});
    out += Event({{"type", "response.output_item.done"}, {"output_index", 0},
                  {"item", MessageItem(meta_, text_, "completed")}});
    output_index = 1;
  }
  nlohmann::json items = nlohmann::json::array();
  if (message_open_) items.push_back(MessageItem(meta_, text_, "completed"));
  for (const ToolCall& call : calls) {
    nlohmann::json item = CallItem(call);
    nlohmann::json added = item;
    added["arguments"] = "";
    added["status"] = "in_progress";
    out += Event({{"type", "response.output_item.added"}, {"output_index", output_index},
                  {"item", added}});
    out += Event({{"type", "response.function_call_arguments.delta"}, {"item_id", item["id"]},
                  {"output_index", output_index}, {"delta", call.arguments}});
    out += Event({{"type", "response.function_call_arguments.done"}, {"item_id", item["id"]},
                  {"output_index", output_index}, {"arguments", call.arguments}});
    out += Event({{"type", "response.output_item.done"}, {"output_index", output_index},
                  {"item", item}});
    items.push_back(std::move(item));
    ++output_index;
  }
  const char* status = Status(finish);
  const char* type = std::string(status) == "incomplete" ? "response.incomplete"
                     : std::string(status) == "failed"   ? "response.failed"
                                                         : "response.completed";
  out += Event({{"type", type}, {"response", Envelope(meta_, status, items, &usage)}});
  return out;
}

}  // namespace xq
