// The Winsock headers that the portable sources of wsb_platform need for
// sockaddr_in, htons, inet_pton and TCP_NODELAY (sockaddr.cpp). CMake puts
// the folder of the platform it compiles on wsb_platform's private include
// path, so that this file and posix/native_sockets.hpp are found by the same
// name.
// <winsock2.h> must come before <windows.h>.
#pragma once

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
