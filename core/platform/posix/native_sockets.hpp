// The BSD socket headers that the portable sources of wsb_platform need for
// sockaddr_in, htons, inet_pton and TCP_NODELAY (sockaddr.cpp). CMake puts
// the folder of the platform it compiles on wsb_platform's private include
// path, so that this file and win/native_sockets.hpp are found by the same
// name.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
