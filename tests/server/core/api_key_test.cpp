#include "server/core/api_key.h"

#include <gtest/gtest.h>

namespace xq {
namespace {

TEST(ApiKey, SameKeyOnlyForEqualBytes) {
  EXPECT_TRUE(SameKey("sekret", "sekret"));
  EXPECT_FALSE(SameKey("sekreT", "sekret"));
  EXPECT_FALSE(SameKey("sekre", "sekret"));         // a prefix
  EXPECT_FALSE(SameKey("sekretsekret", "sekret"));  // the key repeated: the index wraps
  EXPECT_FALSE(SameKey("", "sekret"));
  EXPECT_FALSE(SameKey("x", ""));
  EXPECT_TRUE(SameKey("", ""));
  EXPECT_FALSE(SameKey(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(ApiKey, BearerKeyMatchesNeedsThePrefixAndTheKey) {
  EXPECT_TRUE(BearerKeyMatches("Bearer sekret", "sekret"));
  EXPECT_FALSE(BearerKeyMatches("sekret", "sekret"));
  EXPECT_FALSE(BearerKeyMatches("bearer sekret", "sekret"));
  EXPECT_FALSE(BearerKeyMatches("Bearer wrong", "sekret"));
  EXPECT_FALSE(BearerKeyMatches("Bearer  sekret", "sekret"));
  EXPECT_FALSE(BearerKeyMatches("", "sekret"));
}

}  // namespace
}  // namespace xq
