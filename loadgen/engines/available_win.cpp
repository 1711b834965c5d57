// The engines of the Windows build: I/O completion ports.
#include "engines/engine.hpp"

namespace wsb::loadgen {

const std::vector<EngineInfo>& available_engines() {
  static const std::vector<EngineInfo> engines{
      {"iocp", "I/O completion port: ConnectEx, WSARecv, WSASend", &make_iocp_engine},
  };
  return engines;
}

}  // namespace wsb::loadgen
