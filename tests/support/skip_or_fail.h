// XQ_SKIP_OR_FAIL() << reason: for a test that needs something from outside the repository (the
// default model, llama.cpp's files, a Python package). It skips where that is missing, as on a
// fresh checkout, but fails when XQ_REQUIRE_ALL is set (.ci/run sets it): CI installs everything,
// so there a missing dependency is a broken setup that a skip would hide behind a green run.
// Skips that depend on the CPU's instruction set are not for this: no setup can fix them.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>

namespace xq::test {

// XQ_REQUIRE_ALL is set to anything but "" or "0".
inline bool RequireAll() {
  const char* value = std::getenv("XQ_REQUIRE_ALL");
  return value != nullptr && std::string_view(value) != "" && std::string_view(value) != "0";
}

}  // namespace xq::test

// Like GTEST_SKIP(), it returns from the current (void) function and takes a streamed message,
// which a failure carries too. Built as GTEST_SKIP() and FAIL() are, with the result type chosen
// at run time.
#define XQ_SKIP_OR_FAIL()                                                                     \
  return GTEST_MESSAGE_(::xq::test::RequireAll()                                              \
                            ? "XQ_REQUIRE_ALL is set, so a missing dependency fails the test" \
                            : "",                                                             \
                        ::xq::test::RequireAll() ? ::testing::TestPartResult::kFatalFailure   \
                                                 : ::testing::TestPartResult::kSkip)
