// The Jinja engine (chat templates from model files or --chat-template) on arbitrary template
// sources, rendered with a conversation that has tools and tool calls: xq::Error naming what is
// unsupported or wrong, or a rendering; anything else (other exceptions, crashes, hangs,
// runaway memory) is a finding.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/error.h"
#include "engine/tokenizer/chat_template.h"

namespace {

std::vector<xq::ChatMessage> Conversation() {
  std::vector<xq::ChatMessage> m = {xq::TextMessage("system", "Be brief."),
                                    xq::TextMessage("user", "Weather in Paris?")};
  xq::ChatMessage call = xq::TextMessage("assistant", "");
  call.tool_calls = nlohmann::json::parse(
      R"([{"id": "c1", "type": "function",
           "function": {"name": "weather", "arguments": {"city": "Paris"}}}])");
  m.push_back(call);
  xq::ChatMessage result = xq::TextMessage("tool", "{\"c\": 21}");
  result.tool_call_id = "c1";
  result.name = "weather";
  m.push_back(result);
  m.push_back(xq::TextMessage("user", "Thanks <|im_end|>"));
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<xq::ChatMessage> messages = Conversation();
  xq::ChatTemplateOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.now = 1700000000;
  options.tools = nlohmann::json::parse(
      R"([{"type": "function", "function": {"name": "weather", "description": "d",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  try {
    const xq::ChatTemplate tpl(std::string(reinterpret_cast<const char*>(data), size));
    (void)tpl.Apply(messages, options);
  } catch (const xq::Error&) {
  }
  return 0;
}
