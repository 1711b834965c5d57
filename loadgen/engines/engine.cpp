// Engine-independent parts of the engine interface.
#include "engines/engine.hpp"

#include "util/enum_names.hpp"

namespace wsb::loadgen {
namespace {

constexpr auto kFailureNames = enum_names<Failure>({
    {Failure::none, "none"},
    {Failure::refused, "refused"},
    {Failure::timed_out, "timed_out"},
    {Failure::reset, "reset"},
    {Failure::no_address, "no_address"},
    {Failure::no_descriptors, "no_descriptors"},
    {Failure::other, "other"},
});
static_assert(kFailureNames.names_each_of(Failure::none, Failure::other));

}  // namespace

std::string_view name(Failure f) noexcept {
  return kFailureNames.name(f, "other");
}

}  // namespace wsb::loadgen
