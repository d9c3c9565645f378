// Reads tool calls back out of generated text, whole (ParseToolCalls) or while it streams
// (ToolCallStream: text before a call streams as content; from the first call marker on, the
// text is held and parsed when the choice ends). Text that does not parse as calls stays content.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/core/tool_call_format.h"

namespace xq {

struct ToolCall {
  std::string id;         // "call_" + 24 random characters
  std::string name;
  std::string arguments;  // a JSON object, as text
};

struct ToolCallOutput {
  std::string content;  // the text around the calls (all of it when no call parsed)
  std::vector<ToolCall> calls;
};

ToolCallOutput ParseToolCalls(ToolCallFormat format, std::string_view text);

class ToolCallStream {
 public:
  explicit ToolCallStream(ToolCallFormat format) : format_(format) {}
  // New text in; the content that can be shown now.
  std::string Push(std::string_view text);
  // The choice ended: what was held back, parsed.
  ToolCallOutput Finish();

 private:
  ToolCallFormat format_;
  std::string held_;
  bool in_call_ = false;
};

}  // namespace xq
