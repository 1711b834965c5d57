// Engine-independent parts of the engine interface.
#include "engines/engine.hpp"

namespace wsb::loadgen {

std::string_view name(Failure f) noexcept {
  switch (f) {
    case Failure::none:
      return "none";
    case Failure::refused:
      return "refused";
    case Failure::timed_out:
      return "timed_out";
    case Failure::reset:
      return "reset";
    case Failure::no_address:
      return "no_address";
    case Failure::no_descriptors:
      return "no_descriptors";
    case Failure::other:
      return "other";
  }
  return "other";
}

}  // namespace wsb::loadgen
