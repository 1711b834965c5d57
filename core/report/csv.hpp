// RFC 4180 CSV writing for result files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsb::report {

enum class LineEnding : std::uint8_t {
  lf,    // "\n": the default, what Unix tools and pandas expect
  crlf,  // "\r\n": what RFC 4180 section 2 specifies, for strict consumers
};

// Writes one record at a time to a stream. A field is quoted only when it
// contains a comma, a double quote, CR or LF, and quotes inside are doubled.
// Numbers are written with std::to_chars, so the output never depends on the
// C or C++ locale. Stream errors are left in the stream's state for the
// caller to check (or to throw, through the stream's exceptions() mask).
class CsvWriter {
 public:
  explicit CsvWriter(std::ostream& os, LineEnding ending = LineEnding::lf);

  CsvWriter& field(std::string_view s);
  CsvWriter& field(const char* s) { return field(std::string_view(s)); }
  CsvWriter& field(std::int64_t v);
  CsvWriter& field(std::uint64_t v);
  CsvWriter& field(int v) { return field(static_cast<std::int64_t>(v)); }
  CsvWriter& field(unsigned v) { return field(static_cast<std::uint64_t>(v)); }
  // precision < 0: the shortest text that reads back as the same double;
  // otherwise fixed notation with that many digits after the point (at most
  // 100; larger values are clamped).
  // Non-finite values are written as "nan", "inf" and "-inf".
  CsvWriter& field(double v, int precision = -1);

  // Ends the record. A record with no fields is written as an empty line.
  void end_row();

  // Writes every field of `fields` and ends the row.
  void row(std::span<const std::string> fields);

 private:
  void separator();

  std::ostream& os_;
  LineEnding ending_;
  bool first_in_row_ = true;
};

// Returns s as one CSV field (quoted and escaped when needed).
std::string csv_escape(std::string_view s);

// Reads one record from `text` starting at `pos`, accepting LF or CRLF line
// ends and quoted fields that span lines. Advances pos past the line end.
// Throws std::runtime_error on a malformed quoted field.
std::vector<std::string> parse_record(std::string_view text, std::size_t& pos);

// Whether rows under `header` can be appended to the CSV file at `path`, for
// a program to ask before its run rather than find out after it: an empty
// string when they can (the file does not exist yet and can be created, or
// it is empty, or it begins with `header` and ends with a line break),
// otherwise what is wrong, to follow the file's name in a message, e.g.
// "has a different header (the header differs at column 3: the file has
// 'c', this program writes 'rps'); write to a new file instead of mixing
// schemas" or "cannot be created: No such file or directory".
std::string check_csv_file(const std::filesystem::path& path, std::span<const std::string> header);

// Appends one row to a CSV file. If the file does not exist or is empty, it is
// created with `header` as its first row. If it exists, it must pass
// check_csv_file() (else std::runtime_error naming the file and, for a
// different header, the first differing column; a torn last row would merge
// with the new one). values.size() must equal header.size() (else
// std::invalid_argument). Not safe against concurrent appends to the same
// file by several processes.
void append_row(const std::filesystem::path& path, std::span<const std::string> header,
                std::span<const std::string> values, LineEnding ending = LineEnding::lf);

}  // namespace wsb::report
