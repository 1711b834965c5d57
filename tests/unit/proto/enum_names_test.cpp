// The enum <-> name table every name() and parse function of the project
// is built on (core/util/enum_names.hpp).
#include "util/enum_names.hpp"

#include <cstdint>

#include <gtest/gtest.h>

namespace {

enum class Colour : std::uint8_t { red, green, blue, count_ };

constexpr auto kColours = wsb::enum_names<Colour>({
    {Colour::red, "red"},
    {Colour::green, "green"},
    {Colour::blue, "blue"},
});

// Values that do not start at zero, as ErrorCode of the chat protocol.
enum class Code : std::uint8_t { first = 1, second = 2, third = 3 };

constexpr auto kCodes = wsb::enum_names<Code>({
    {Code::first, "first"},
    {Code::second, "second"},
    {Code::third, "third"},
});

// The checks the tables of the project make with static_assert, each of
// which a table with a gap, a repeat or an extra value must fail.
static_assert(kColours.names_each_before(Colour::count_));
static_assert(kColours.names_each_of(Colour::red, Colour::blue));
static_assert(!kColours.names_each_before(Colour::blue));
static_assert(kCodes.names_each_of(Code::first, Code::third));
static_assert(!kCodes.names_each_of(Code::first, Code::second));
static_assert(!wsb::enum_names<Colour>({{Colour::red, "red"}, {Colour::blue, "blue"}})
                   .names_each_before(Colour::count_));
static_assert(!wsb::enum_names<Colour>({
                                           {Colour::red, "red"},
                                           {Colour::red, "rouge"},
                                           {Colour::blue, "blue"},
                                       })
                   .names_each_before(Colour::count_));
static_assert(!wsb::enum_names<Code>({{Code::third, "third"}}).names_each_before(Code::first));

TEST(EnumNames, NameAndParseRoundTrip) {
  for (Colour c : {Colour::red, Colour::green, Colour::blue}) {
    EXPECT_EQ(kColours.parse(kColours.name(c, "?")), c);
  }
  for (Code c : {Code::first, Code::second, Code::third}) {
    EXPECT_EQ(kCodes.parse(kCodes.name(c, "?")), c);
  }
  EXPECT_EQ(kColours.name(Colour::green, "?"), "green");
  EXPECT_EQ(kCodes.name(Code::third, "?"), "third");
}

TEST(EnumNames, NameOfAValueNotInTheTableIsTheFallback) {
  EXPECT_EQ(kColours.name(Colour::count_, "none"), "none");
  EXPECT_EQ(kColours.name(static_cast<Colour>(200), ""), "");
  EXPECT_EQ(kCodes.name(static_cast<Code>(0), "unknown"), "unknown");
}

TEST(EnumNames, ParseIsExactAndCaseSensitive) {
  EXPECT_FALSE(kColours.parse(""));
  EXPECT_FALSE(kColours.parse("Red"));
  EXPECT_FALSE(kColours.parse("red "));
  EXPECT_FALSE(kColours.parse("re"));
  EXPECT_FALSE(kColours.parse("count_"));
}

TEST(EnumNames, WorksInConstantExpressions) {
  static_assert(kColours.name(Colour::blue, "?") == "blue");
  static_assert(kCodes.parse("second") == Code::second);
  static_assert(!kCodes.parse("fourth").has_value());
  SUCCEED();
}

}  // namespace
