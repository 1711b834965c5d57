// The engines of the Linux build: io_uring first (the default), epoll second.
#include "engines/engine.hpp"

namespace wsb::loadgen {

const std::vector<EngineInfo>& available_engines() {
  static const std::vector<EngineInfo> engines{
      {"uring", "io_uring: multishot receives into a provided-buffer ring, batched submission",
       &make_uring_engine},
      {"epoll", "epoll, edge-triggered, non-blocking sockets", &make_epoll_engine},
  };
  return engines;
}

}  // namespace wsb::loadgen
