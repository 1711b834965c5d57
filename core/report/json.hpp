// A small streaming JSON writer for result files (RFC 8259), so that the
// project's tools emit machine-readable summaries without a dependency.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace wsb::report {

// Writes one JSON value (usually an object) to a stream, pretty-printed with
// two spaces per level. Members are written in the order they are given;
// commas, indentation and string escapes are the writer's job. Numbers go
// through std::to_chars, so the text never depends on the locale; a
// non-finite double becomes null (JSON has no NaN). Misuse (a value where a
// key is due, an unbalanced end) throws std::logic_error: it is a bug in the
// caller, never bad input.
class JsonWriter {
 public:
  explicit JsonWriter(std::ostream& out);

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // The name of the next member of the enclosing object.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(std::uint64_t v);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(unsigned v) { return value(static_cast<std::uint64_t>(v)); }
  JsonWriter& value(double v);
  JsonWriter& null();

  // key(name).value(v) in one call.
  template <class T>
  JsonWriter& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  // True once the outermost value is complete.
  bool done() const noexcept { return done_; }

 private:
  struct Level {
    bool object = false;
    bool empty = true;
    bool key_written = false;
  };
  void before_value();
  void newline_indent(std::size_t depth);
  void raw(std::string_view text);
  void end(bool object);

  std::ostream& out_;
  std::vector<Level> levels_;
  bool done_ = false;
};

// s as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace wsb::report
