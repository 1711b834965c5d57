// An upper protocol frame (namespace wsb::test), shared by the unit tests of
// every folder that feed sessions and servers upper requests.
#pragma once

#include <string>
#include <string_view>

namespace wsb::test {

// One upper request (or reply): u16 little-endian length, then the body.
inline std::string upper_frame(std::string_view body) {
  std::string frame;
  frame.push_back(static_cast<char>(body.size() & 0xff));
  frame.push_back(static_cast<char>((body.size() >> 8) & 0xff));
  frame.append(body);
  return frame;
}

}  // namespace wsb::test
