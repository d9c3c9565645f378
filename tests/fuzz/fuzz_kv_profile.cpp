// The KV profile parser (JSON from --kv-profile files): xq::Error naming the field, or a profile
// that resolves to a layout for a real model shape; anything else is a finding.
#include <cstdint>
#include <string_view>

#include "engine/common/error.h"
#include "engine/kv/kv_profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const xq::KvProfile profile = xq::ParseKvProfile(text, "fuzz");
    (void)xq::KvProfileJson(profile);
    (void)xq::ResolveLayers(profile, 30);
    (void)xq::ResolveKvLayout(profile, 30, 3, 64);
  } catch (const xq::Error&) {
  }
  return 0;
}
