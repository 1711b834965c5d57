#include "report/json.hpp"

#include <charconv>
#include <cmath>
#include <ostream>
#include <stdexcept>

namespace wsb::report {

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[static_cast<unsigned char>(c) >> 4];
          out += hex[static_cast<unsigned char>(c) & 0xF];
        } else {
          // Bytes of 0x80 and above pass through: the project's texts are UTF-8.
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

namespace {

// A number as std::to_chars writes it: the shortest text that reads back as
// the same value. 40 bytes hold any 64-bit integer and any double.
class NumberText {
 public:
  template <typename T>
  explicit NumberText(T v) noexcept {
    size_ =
        static_cast<std::size_t>(std::to_chars(buffer_, buffer_ + sizeof buffer_, v).ptr - buffer_);
  }
  std::string_view view() const noexcept { return {buffer_, size_}; }

 private:
  char buffer_[40];
  std::size_t size_ = 0;
};

}  // namespace

JsonWriter::JsonWriter(std::ostream& out) : out_(out) {}

void JsonWriter::raw(std::string_view text) {
  out_.write(text.data(), static_cast<std::streamsize>(text.size()));
}

void JsonWriter::newline_indent(std::size_t depth) {
  out_.put('\n');
  for (std::size_t i = 0; i < depth; ++i)
    raw("  ");
}

// Called before every value: places the comma and line break an array
// element needs, or checks that an object member has its key.
void JsonWriter::before_value() {
  if (done_) throw std::logic_error("JsonWriter: a second top-level value");
  if (levels_.empty()) return;
  Level& level = levels_.back();
  if (level.object) {
    if (!level.key_written) throw std::logic_error("JsonWriter: an object member without a key");
    level.key_written = false;
    return;
  }
  if (!level.empty) out_.put(',');
  level.empty = false;
  newline_indent(levels_.size());
}

JsonWriter& JsonWriter::key(std::string_view name) {
  if (levels_.empty() || !levels_.back().object || levels_.back().key_written) {
    throw std::logic_error("JsonWriter: a key outside an object, or two keys in a row");
  }
  Level& level = levels_.back();
  if (!level.empty) out_.put(',');
  level.empty = false;
  newline_indent(levels_.size());
  raw(json_quote(name));
  raw(": ");
  level.key_written = true;
  return *this;
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_.put('{');
  levels_.push_back({true, true, false});
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_.put('[');
  levels_.push_back({false, true, false});
  return *this;
}

void JsonWriter::end(bool object) {
  if (levels_.empty() || levels_.back().object != object || levels_.back().key_written) {
    throw std::logic_error("JsonWriter: unbalanced end of an object or array");
  }
  const bool empty = levels_.back().empty;
  levels_.pop_back();
  if (!empty) newline_indent(levels_.size());
  out_.put(object ? '}' : ']');
  if (levels_.empty()) {
    done_ = true;
    out_.put('\n');
  }
}

JsonWriter& JsonWriter::end_object() {
  end(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  end(false);
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  before_value();
  raw(json_quote(s));
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  before_value();
  raw(b ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t v) {
  before_value();
  raw(NumberText(v).view());
  return *this;
}

JsonWriter& JsonWriter::value(std::uint64_t v) {
  before_value();
  raw(NumberText(v).view());
  return *this;
}

JsonWriter& JsonWriter::value(double v) {
  if (!std::isfinite(v)) return null();
  before_value();
  raw(NumberText(v).view());
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  raw("null");
  return *this;
}

}  // namespace wsb::report
