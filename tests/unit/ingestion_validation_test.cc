// Unit tests of the ingestion service's validation helpers.

#include <gtest/gtest.h>

#include "services/ingestion/validation.h"

namespace stp::ingestion {
namespace {

TEST(Utf8PrefixTest, NeverCutsACharacter) {
  EXPECT_EQ(Utf8Prefix("short", 300), "short");
  EXPECT_EQ(Utf8Prefix("abcdef", 3), "abc");
  const std::string cairo = "\xd8\xa7\xd9\x84\xd9\x82\xd8\xa7\xd9\x87\xd8\xb1\xd8\xa9";  // 2-byte
  for (size_t max = 0; max <= cairo.size(); ++max) {
    std::string prefix = Utf8Prefix(cairo, max);
    EXPECT_TRUE(IsValidUtf8(prefix)) << max;
    EXPECT_EQ(prefix.size(), max - max % 2) << max;
  }
  const std::string park = "\xe5\x9b\xad\xe5\x8c\xba";  // two 3-byte characters
  EXPECT_EQ(Utf8Prefix(park, 5), "\xe5\x9b\xad");
  EXPECT_EQ(Utf8Prefix(park, 2), "");
  EXPECT_EQ(Utf8Prefix("a\xf0\x9f\x8c\x8d", 4), "a");  // a 4-byte character
}

}  // namespace
}  // namespace stp::ingestion
