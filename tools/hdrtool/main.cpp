// hdrtool's entry point: binds the commands to the process's streams and
// clocks (see hdrtool.hpp).
#include <iostream>

#include "hdrtool.hpp"

int main(int argc, char** argv) {
  // The commands read and write through iostreams only, so the C streams need
  // not stay synchronised; this makes reading millions of lines fast.
  std::ios::sync_with_stdio(false);
  return wsb::hdrtool::main(argc, argv, std::cin, std::cout, std::cerr,
                            wsb::hdrtool::system_clock());
}
