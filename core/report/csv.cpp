#include "report/csv.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace wsb::report {
namespace {

bool needs_quotes(std::string_view s) noexcept {
  return s.find_first_of(",\"\r\n") != std::string_view::npos;
}

void write_escaped(std::ostream& os, std::string_view s) {
  if (!needs_quotes(s)) {
    os.write(s.data(), static_cast<std::streamsize>(s.size()));
    return;
  }
  os.put('"');
  for (std::size_t start = 0;;) {
    const std::size_t quote = s.find('"', start);
    const std::string_view part =
        s.substr(start, quote == std::string_view::npos ? s.npos : quote + 1 - start);
    os.write(part.data(), static_cast<std::streamsize>(part.size()));
    if (quote == std::string_view::npos) break;
    os.put('"');  // the quote just written is doubled
    start = quote + 1;
  }
  os.put('"');
}

// Decimal digits of a signed or unsigned 64-bit integer (at most 20 and a
// sign).
template <class Int>
void write_integer(std::ostream& os, Int v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  os.write(buf, r.ptr - buf);
}

std::string_view line_end(LineEnding ending) noexcept {
  return ending == LineEnding::crlf ? "\r\n" : "\n";
}

}  // namespace

CsvWriter::CsvWriter(std::ostream& os, LineEnding ending) : os_(os), ending_(ending) {}

void CsvWriter::separator() {
  if (!first_in_row_) os_.put(',');
  first_in_row_ = false;
}

CsvWriter& CsvWriter::field(std::string_view s) {
  separator();
  write_escaped(os_, s);
  return *this;
}

CsvWriter& CsvWriter::field(std::int64_t v) {
  separator();
  write_integer(os_, v);
  return *this;
}

CsvWriter& CsvWriter::field(std::uint64_t v) {
  separator();
  write_integer(os_, v);
  return *this;
}

CsvWriter& CsvWriter::field(double v, int precision) {
  separator();
  // std::to_chars would write "inf" and "nan" too, but spelling them out keeps
  // the text fixed whatever the library (and drops the sign of a NaN).
  if (std::isnan(v)) {
    os_.write("nan", 3);
    return *this;
  }
  if (std::isinf(v)) {
    if (v < 0) {
      os_.write("-inf", 4);
    } else {
      os_.write("inf", 3);
    }
    return *this;
  }
  // Fixed notation of 1e308 takes 309 digits before the point; 400 bytes plus
  // the requested precision always fit.
  const int digits = precision < 0 ? 0 : (precision > 100 ? 100 : precision);
  char buf[512];
  const std::to_chars_result r =
      precision < 0 ? std::to_chars(buf, buf + sizeof buf, v)
                    : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, digits);
  if (r.ec != std::errc()) {
    // Cannot happen with this buffer size; a broken invariant, not a data error.
    throw std::logic_error("CsvWriter: std::to_chars failed");
  }
  os_.write(buf, r.ptr - buf);
  return *this;
}

void CsvWriter::end_row() {
  const std::string_view end = line_end(ending_);
  os_.write(end.data(), static_cast<std::streamsize>(end.size()));
  first_in_row_ = true;
}

void CsvWriter::row(std::span<const std::string> fields) {
  for (const std::string& f : fields)
    field(std::string_view(f));
  end_row();
}

std::string csv_escape(std::string_view s) {
  std::ostringstream os;
  write_escaped(os, s);
  return std::move(os).str();
}

std::vector<std::string> parse_record(std::string_view text, std::size_t& pos) {
  std::vector<std::string> fields;
  std::string current;
  std::size_t i = pos;
  while (true) {
    if (i < text.size() && text[i] == '"') {
      // A quoted field runs to the next quote that is not doubled.
      ++i;
      while (true) {
        if (i >= text.size()) throw std::runtime_error("CSV: unterminated quoted field");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            current.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        current.push_back(text[i++]);
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        throw std::runtime_error("CSV: text after a closing quote");
      }
    } else {
      const std::size_t stop = text.find_first_of(",\r\n\"", i);
      const std::size_t end = stop == std::string_view::npos ? text.size() : stop;
      if (end < text.size() && text[end] == '"') {
        throw std::runtime_error("CSV: quote inside an unquoted field");
      }
      current.assign(text.substr(i, end - i));
      i = end;
    }
    fields.push_back(std::move(current));
    current.clear();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    // End of record: LF, CRLF or the end of the text.
    if (i < text.size() && text[i] == '\r') {
      if (i + 1 >= text.size() || text[i + 1] != '\n') {
        throw std::runtime_error("CSV: CR not followed by LF outside quotes");
      }
      ++i;
    }
    if (i < text.size()) ++i;  // the LF
    pos = i;
    return fields;
  }
}

namespace {

// What append_row() must know of an existing file before it appends.
struct FileState {
  bool has_header = false;  // the file exists and is not empty
  std::string problem;      // why rows under the header cannot be appended
};

// Reads the first record of the file at `path` and its last byte, and
// compares the record with `header`. Only the header and the last byte
// matter, so a long result file is not read whole: blocks are read until the
// first record is complete.
FileState inspect(const std::filesystem::path& path, std::span<const std::string> header) {
  FileState state;
  std::ifstream in(path, std::ios::binary);
  if (!in) return state;
  std::string text;
  std::vector<std::string> existing;
  char block[16 * 1024];
  bool complete = false;
  while (!complete) {
    in.read(block, sizeof block);
    const std::streamsize got = in.gcount();
    text.append(block, static_cast<std::size_t>(got));
    const bool at_eof = got < static_cast<std::streamsize>(sizeof block);
    if (text.empty()) break;
    try {
      std::size_t pos = 0;
      existing = parse_record(text, pos);
      // A record that ends at the end of what was read may continue in
      // the next block, unless this was the end of the file.
      complete = pos < text.size() || at_eof;
    } catch (const std::runtime_error& e) {
      if (at_eof) {
        state.has_header = true;
        state.problem = std::string("cannot read its header: ") + e.what();
        return state;
      }
    }
    if (at_eof) break;
  }
  if (text.empty()) return state;
  state.has_header = true;
  if (existing != std::vector<std::string>(header.begin(), header.end())) {
    std::size_t col = 0;
    while (col < existing.size() && col < header.size() && existing[col] == header[col]) {
      ++col;
    }
    const std::string have = col < existing.size() ? "'" + existing[col] + "'" : "nothing";
    const std::string want = col < header.size() ? "'" + header[col] + "'" : "nothing";
    state.problem = "has a different header (the header differs at column " +
                    std::to_string(col + 1) + ": the file has " + have + ", this program writes " +
                    want + "); write to a new file instead of mixing schemas";
    return state;
  }
  in.clear();
  in.seekg(-1, std::ios::end);
  char last = 0;
  if (!in.get(last) || last != '\n') {
    state.problem = "ends in an unterminated row (a torn write?); refusing to append to it";
  }
  return state;
}

}  // namespace

std::string check_csv_file(const std::filesystem::path& path, std::span<const std::string> header) {
  if (std::filesystem::exists(path)) return inspect(path, header).problem;
  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) return "cannot be created: " + std::generic_category().message(errno);
  out.close();
  std::error_code ignored;
  std::filesystem::remove(path, ignored);  // created empty to test; append_row adds the header
  return {};
}

void append_row(const std::filesystem::path& path, std::span<const std::string> header,
                std::span<const std::string> values, LineEnding ending) {
  if (values.size() != header.size()) {
    throw std::invalid_argument("CSV " + path.string() + ": row has " +
                                std::to_string(values.size()) + " fields, header has " +
                                std::to_string(header.size()));
  }
  const FileState state = inspect(path, header);
  if (!state.problem.empty())
    throw std::runtime_error("CSV " + path.string() + " " + state.problem);

  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) {
    throw std::runtime_error("CSV " + path.string() + ": cannot open for appending: " +
                             std::generic_category().message(errno));
  }
  CsvWriter writer(out, ending);
  if (!state.has_header) writer.row(header);
  writer.row(values);
  out.flush();
  if (!out) throw std::runtime_error("CSV " + path.string() + " write failed");
}

}  // namespace wsb::report
