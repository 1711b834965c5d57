// CPU sets for --server-cpus and --loadgen-cpus (namespace wsb::loadgen):
// the server and the load generator on disjoint cores, so that they do not
// fight for the same ones. The parser is portable; which CPUs exist and how
// a process is pinned is in affinity_posix.cpp (sched_setaffinity) and
// affinity_win.cpp (SetProcessAffinityMask).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/process.hpp"

namespace wsb::loadgen {

// The CPUs this process may run on, ascending (Linux: its affinity mask;
// Windows: its process affinity mask, at most 64 CPUs).
std::vector<int> usable_cpus();

// "none" (not pinned: an empty set), or a list of CPU numbers and ranges:
// "0", "2-3,6". Every CPU must be one of `usable` (usable_cpus() by
// default). On failure, nullopt and *error says why in one line.
std::optional<std::vector<int>> parse_cpu_set(std::string_view text, std::string* error);
std::optional<std::vector<int>> parse_cpu_set(std::string_view text, std::string* error,
                                              const std::vector<int>& usable);

// The set as a bit mask (bit c for CPU c; CPUs from 64 up are left out):
// Windows' affinity masks.
std::uint64_t cpu_mask(const std::vector<int>& cpus);

// "2-3,6" (the form parse_cpu_set reads back), or "none" for an empty set.
std::string to_string_cpus(const std::vector<int>& cpus);

// Pins the calling process's threads created from now on (Linux: the
// calling thread, whose mask new threads inherit; Windows: the whole
// process). Returns "" on success, else why it failed.
std::string pin_this_process(const std::vector<int>& cpus);

// Linux, a server under Wine: wineserver does part of the server's work
// (every wait, every handle operation) from its own process, so it belongs
// in the server's set. Finds the wineserver of the child's WINEPREFIX and
// pins every thread it has. It is shared: it serves every Wine program of
// that prefix and keeps the mask after the run. Returns what was done, for
// the report: "pinned (pid N, shared ...)" or why it was not.
std::string pin_wineserver_of(platform::ProcessId child, const std::vector<int>& cpus);

}  // namespace wsb::loadgen
