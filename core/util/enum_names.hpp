// A constexpr table of {enumerator, name} pairs: the one implementation of
// the name() and parse functions of the project's enums.
//
// A switch over an enum made the compiler warn when an enumerator had no
// case; a table does not, so each table is checked at compile time instead:
//
//   constexpr auto kModeNames = enum_names<Mode>({{Mode::closed, "closed"}, ...});
//   static_assert(kModeNames.names_each_of(Mode::closed, Mode::hold));
//
// names_each_of() holds only when the table names every enumerator from
// `first` to `last` exactly once and nothing else, so the table must grow
// with the enum (each such enum says so beside its last enumerator).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>

namespace wsb {

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

template <typename E, std::size_t N>
class EnumNames {
  static_assert(std::is_enum_v<E>);

 public:
  explicit constexpr EnumNames(const EnumName<E> (&entries)[N]) noexcept {
    for (std::size_t i = 0; i < N; ++i)
      entries_[i] = entries[i];
  }

  // The name of `value`, or `fallback` for a value the table does not hold
  // (a count_ enumerator, or a byte cast to the enum).
  constexpr std::string_view name(E value, std::string_view fallback) const noexcept {
    for (const EnumName<E>& e : entries_) {
      if (e.value == value) return e.name;
    }
    return fallback;
  }

  // The enumerator named exactly `text` (case-sensitive), or nullopt.
  constexpr std::optional<E> parse(std::string_view text) const noexcept {
    for (const EnumName<E>& e : entries_) {
      if (e.name == text) return e.value;
    }
    return std::nullopt;
  }

  // True when the table holds each enumerator from `first` through `last`
  // exactly once, and no other value. For static_assert.
  constexpr bool names_each_of(E first, E last) const noexcept {
    const auto lo = underlying(first);
    const auto hi = underlying(last);
    if (hi < lo || static_cast<std::size_t>(hi - lo) + 1 != N) return false;
    for (auto v = lo; v <= hi; ++v) {
      std::size_t seen = 0;
      for (const EnumName<E>& e : entries_)
        seen += underlying(e.value) == v ? 1 : 0;
      if (seen != 1) return false;
    }
    return true;
  }

  // names_each_of() for an enum that ends in a count_ enumerator: every
  // enumerator from the first (0) up to, not including, `end`.
  constexpr bool names_each_before(E end) const noexcept {
    return underlying(end) > 0 && names_each_of(E{}, static_cast<E>(underlying(end) - 1));
  }

 private:
  // Widened to long long so that the loops above cannot wrap at the top of
  // a one-byte underlying type.
  static constexpr long long underlying(E value) noexcept {
    return static_cast<long long>(static_cast<std::underlying_type_t<E>>(value));
  }

  EnumName<E> entries_[N]{};
};

// Deduces the table's size from its braced list of pairs:
// enum_names<Protocol>({{Protocol::upper, "upper"}, {Protocol::echo, "echo"}}).
template <typename E, std::size_t N>
constexpr EnumNames<E, N> enum_names(const EnumName<E> (&entries)[N]) noexcept {
  return EnumNames<E, N>(entries);
}

}  // namespace wsb
