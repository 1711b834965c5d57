#include "affinity.hpp"

#include <algorithm>
#include <charconv>
#include <set>

namespace wsb::loadgen {

namespace {

std::optional<int> cpu_number(std::string_view text) {
  int v = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<std::vector<int>> parse_cpu_set(std::string_view text, std::string* error) {
  return parse_cpu_set(text, error, usable_cpus());
}

std::optional<std::vector<int>> parse_cpu_set(std::string_view text, std::string* error,
                                              const std::vector<int>& usable) {
  auto fail = [&](std::string why) -> std::optional<std::vector<int>> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (text == "none") return std::vector<int>{};
  if (text.empty()) return fail("empty CPU set (give CPUs such as 0,2-3, or none)");
  std::set<int> cpus;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const auto dash = item.find('-');
    const auto first = cpu_number(item.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : cpu_number(item.substr(dash + 1));
    if (!first || !last || *last < *first) {
      return fail("not a CPU number or range (e.g. 0,2-3): " + std::string(item));
    }
    for (int c = *first; c <= *last; ++c) {
      if (!std::binary_search(usable.begin(), usable.end(), c)) {
        return fail("CPU " + std::to_string(c) +
                    " is not one this process may use (usable: " + to_string_cpus(usable) + ")");
      }
      cpus.insert(c);
    }
  }
  return std::vector<int>(cpus.begin(), cpus.end());
}

std::uint64_t cpu_mask(const std::vector<int>& cpus) {
  std::uint64_t mask = 0;
  for (int c : cpus) {
    if (c >= 0 && c < 64) mask |= std::uint64_t{1} << c;
  }
  return mask;
}

std::string to_string_cpus(const std::vector<int>& cpus) {
  if (cpus.empty()) return "none";
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1)
      ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace wsb::loadgen
