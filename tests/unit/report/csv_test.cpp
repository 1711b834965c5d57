#include "report/csv.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <clocale>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <locale>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace wsb::report;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// A scratch file in the temporary directory, removed at the end of the test.
class CsvFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ =
        std::filesystem::temp_directory_path() / (std::string("wsb_csv_") + info->name() + ".csv");
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
};

TEST(CsvWriter, PlainFieldsAreNotQuoted) {
  std::ostringstream os;
  CsvWriter w(os);
  w.field("a").field("b c").field("").field(std::string_view("d"));
  w.end_row();
  EXPECT_EQ(os.str(), "a,b c,,d\n");
}

TEST(CsvWriter, SpecialCharactersAreQuotedAndQuotesDoubled) {
  std::ostringstream os;
  CsvWriter w(os);
  w.field("a,b").field("say \"hi\"").field("line\nbreak").field("cr\rhere").field("\"");
  w.end_row();
  EXPECT_EQ(os.str(), "\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",\"cr\rhere\",\"\"\"\"\n");
}

TEST(CsvWriter, LineEndingOption) {
  std::ostringstream lf;
  CsvWriter(lf).field("x").end_row();
  EXPECT_EQ(lf.str(), "x\n");
  std::ostringstream crlf;
  CsvWriter w(crlf, LineEnding::crlf);
  w.field("x").field(1).end_row();
  w.end_row();
  EXPECT_EQ(crlf.str(), "x,1\r\n\r\n");
}

TEST(CsvWriter, Integers) {
  std::ostringstream os;
  CsvWriter w(os);
  w.field(std::int64_t{-42})
      .field(std::numeric_limits<std::int64_t>::min())
      .field(std::numeric_limits<std::uint64_t>::max())
      .field(0)
      .field(7u);
  w.end_row();
  EXPECT_EQ(os.str(), "-42,-9223372036854775808,18446744073709551615,0,7\n");
}

TEST(CsvWriter, Doubles) {
  std::ostringstream os;
  CsvWriter w(os);
  w.field(0.1).field(1.5, 3).field(-2.25, 1).field(1e21).field(123456.789, 0).field(0.0, 2);
  w.field(std::numeric_limits<double>::quiet_NaN())
      .field(std::numeric_limits<double>::infinity())
      .field(-std::numeric_limits<double>::infinity());
  w.end_row();
  EXPECT_EQ(os.str(), "0.1,1.500,-2.2,1e+21,123457,0.00,nan,inf,-inf\n");
}

// A numpunct like German's: decimal comma, '.' between groups of three digits.
struct CommaDecimal : std::numpunct<char> {
  char do_decimal_point() const override { return ','; }
  char do_thousands_sep() const override { return '.'; }
  std::string do_grouping() const override { return "\3"; }
};

TEST(CsvWriter, NumbersIgnoreTheLocale) {
  std::ostringstream os;
  os.imbue(std::locale(std::locale::classic(), new CommaDecimal));
  // The stream's locale is what operator<< would honour (writing 1,5 and
  // 1.234.567); the writer must not.
  std::ostringstream probe;
  probe.imbue(os.getloc());
  probe << 1.5 << ' ' << 1234567;
  ASSERT_EQ(probe.str(), "1,5 1.234.567") << "the facet works, so the check below is real";

  // The C locale too, when a comma-decimal one is installed (std::to_chars is
  // specified to ignore it; a printf-based writer would not).
  const std::string old_c = std::setlocale(LC_ALL, nullptr);
  for (const char* n : {"de_DE.UTF-8", "de_DE.utf8", "German_Germany.1252", "fr_FR.UTF-8"}) {
    if (std::setlocale(LC_ALL, n) != nullptr) break;
  }
  CsvWriter w(os);
  w.field(1.5).field(2.25, 2).field(std::uint64_t{1234567}).field(std::int64_t{-1234567});
  w.end_row();
  std::setlocale(LC_ALL, old_c.c_str());
  EXPECT_EQ(os.str(), "1.5,2.25,1234567,-1234567\n");
}

TEST(CsvWriter, ShortestDoublesReadBack) {
  for (double v : {0.1 + 0.2, 1.0 / 3.0, 6.02214076e23, 5e-324, 1.7976931348623157e308}) {
    std::ostringstream os;
    CsvWriter(os).field(v).end_row();
    std::string text = os.str();
    text.pop_back();
    // from_chars, unlike stod, accepts subnormals and ignores the locale.
    double back = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), back);
    EXPECT_EQ(r.ec, std::errc()) << text;
    EXPECT_EQ(r.ptr, text.data() + text.size()) << text;
    EXPECT_EQ(back, v) << text;
  }
  std::ostringstream os;
  CsvWriter(os).field(1e308, 2).end_row();
  EXPECT_EQ(os.str().size(), 309u + 3u + 1u) << "309 integer digits, point, two decimals, LF";
}

TEST(CsvEscape, MatchesTheWriter) {
  EXPECT_EQ(csv_escape("plain"), "plain");
  EXPECT_EQ(csv_escape("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(csv_escape(""), "");
}

TEST(ParseRecord, RoundTripsWhatTheWriterWrites) {
  const std::vector<std::string> fields = {"a",           "",         "b,c",     "q\"uote",
                                           "multi\nline", "cr\r\nlf", " spaced "};
  for (LineEnding e : {LineEnding::lf, LineEnding::crlf}) {
    std::ostringstream os;
    CsvWriter w(os, e);
    w.row(fields);
    w.row(fields);
    const std::string text = os.str();
    std::size_t pos = 0;
    EXPECT_EQ(parse_record(text, pos), fields);
    EXPECT_EQ(parse_record(text, pos), fields);
    EXPECT_EQ(pos, text.size());
  }
}

TEST(ParseRecord, RejectsBrokenQuoting) {
  std::size_t pos = 0;
  EXPECT_THROW(parse_record("\"open", pos), std::runtime_error);
  pos = 0;
  EXPECT_THROW(parse_record("\"a\"b", pos), std::runtime_error);
  pos = 0;
  EXPECT_THROW(parse_record("a\"b", pos), std::runtime_error);
  pos = 0;
  EXPECT_THROW(parse_record("a\rb", pos), std::runtime_error);
}

TEST_F(CsvFile, AppendCreatesTheFileWithItsHeader) {
  const std::vector<std::string> header = {"model", "rps", "note"};
  append_row(path_, header, std::vector<std::string>{"iocp", "12345", "a, b"});
  append_row(path_, header, std::vector<std::string>{"select", "999", ""});
  EXPECT_EQ(read_file(path_), "model,rps,note\niocp,12345,\"a, b\"\nselect,999,\n");
}

TEST_F(CsvFile, AppendWithCrlf) {
  const std::vector<std::string> header = {"a", "b"};
  append_row(path_, header, std::vector<std::string>{"1", "2"}, LineEnding::crlf);
  EXPECT_EQ(read_file(path_), "a,b\r\n1,2\r\n");
  // The CRLF header is read back and matched like an LF one.
  append_row(path_, header, std::vector<std::string>{"3", "4"}, LineEnding::crlf);
  EXPECT_EQ(read_file(path_), "a,b\r\n1,2\r\n3,4\r\n");
}

TEST_F(CsvFile, AnEmptyFileGetsTheHeader) {
  write_file(path_, "");
  append_row(path_, std::vector<std::string>{"x"}, std::vector<std::string>{"1"});
  EXPECT_EQ(read_file(path_), "x\n1\n");
}

TEST_F(CsvFile, AppendRefusesADifferentHeader) {
  write_file(path_, "model,rps\niocp,1\n");
  const std::string before = read_file(path_);
  for (const std::vector<std::string>& header :
       {std::vector<std::string>{"model", "p99"}, std::vector<std::string>{"model"},
        std::vector<std::string>{"model", "rps", "p99"},
        std::vector<std::string>{"Model", "rps"}}) {
    try {
      append_row(path_, header, std::vector<std::string>(header.size(), "v"));
      ADD_FAILURE() << "appended under a different header";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("header differs"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path_.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(read_file(path_), before) << "a refused append leaves the file alone";
}

TEST_F(CsvFile, QuotedHeaderFieldsAreCompared) {
  const std::vector<std::string> header = {"a,b", "multi\nline", "q\"x"};
  append_row(path_, header, std::vector<std::string>{"1", "2", "3"});
  append_row(path_, header, std::vector<std::string>{"4", "5", "6"});
  EXPECT_EQ(read_file(path_), "\"a,b\",\"multi\nline\",\"q\"\"x\"\n1,2,3\n4,5,6\n");
}

TEST_F(CsvFile, AHeaderLongerThanOneReadBlock) {
  std::vector<std::string> header;
  for (int i = 0; i < 3000; ++i)
    header.push_back("column_with_a_long_name_" + std::to_string(i));
  append_row(path_, header, header);
  append_row(path_, header, header);
  std::vector<std::string> other = header;
  other.back() = "changed";
  EXPECT_THROW(append_row(path_, other, other), std::runtime_error);
}

TEST_F(CsvFile, AppendRefusesATornLastRow) {
  write_file(path_, "a,b\n1,");
  EXPECT_THROW(
      append_row(path_, std::vector<std::string>{"a", "b"}, std::vector<std::string>{"2", "3"}),
      std::runtime_error);
  EXPECT_EQ(read_file(path_), "a,b\n1,");
}

// check_csv_file(): the servers' --stats-csv and loadgen's --csv ask it
// before a run, so that a wrong file is refused before any work is done.
TEST_F(CsvFile, CheckAcceptsANewFileWithoutCreatingIt) {
  EXPECT_EQ(check_csv_file(path_, std::vector<std::string>{"a", "b"}), "");
  EXPECT_FALSE(std::filesystem::exists(path_)) << "the check leaves no file behind";
}

TEST_F(CsvFile, CheckAcceptsAnEmptyFileAndItsOwnHeader) {
  write_file(path_, "");
  EXPECT_EQ(check_csv_file(path_, std::vector<std::string>{"a", "b"}), "");
  write_file(path_, "a,b\n1,2\n");
  EXPECT_EQ(check_csv_file(path_, std::vector<std::string>{"a", "b"}), "");
}

TEST_F(CsvFile, CheckNamesTheFirstDifferingColumn) {
  write_file(path_, "a,b,c\n1,2,3\n");
  const std::string problem = check_csv_file(path_, std::vector<std::string>{"a", "b", "d"});
  EXPECT_NE(problem.find("different header"), std::string::npos) << problem;
  EXPECT_NE(problem.find("column 3"), std::string::npos) << problem;
  EXPECT_NE(problem.find("'c'"), std::string::npos) << problem;
  EXPECT_NE(problem.find("'d'"), std::string::npos) << problem;
  EXPECT_EQ(read_file(path_), "a,b,c\n1,2,3\n") << "the check changes nothing";
}

TEST_F(CsvFile, CheckRefusesATornLastRowAndAMissingFolder) {
  write_file(path_, "a,b\n1,");
  EXPECT_NE(check_csv_file(path_, std::vector<std::string>{"a", "b"}).find("unterminated row"),
            std::string::npos);
  const auto missing = path_.parent_path() / "wsb-no-such-folder" / "x.csv";
  EXPECT_NE(check_csv_file(missing, std::vector<std::string>{"a"}).find("cannot be created"),
            std::string::npos);
}

TEST_F(CsvFile, RowWidthMustMatchTheHeader) {
  EXPECT_THROW(append_row(path_, std::vector<std::string>{"a", "b"}, std::vector<std::string>{"1"}),
               std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
