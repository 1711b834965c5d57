#include "server/frame.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "platform/net.hpp"
#include "platform/process.hpp"
#include "report/csv.hpp"
#include "server/connection.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::finish_captured;
using test::make_frame;
using test::upper_frame;

// "key: value" lines of the final report.
std::map<std::string, std::string> report_fields(const std::string& report) {
  std::map<std::string, std::string> fields;
  std::istringstream lines(report);
  std::string line;
  while (std::getline(lines, line)) {
    const auto colon = line.find(": ");
    EXPECT_NE(colon, std::string::npos) << "not a key: value line: " << line;
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    EXPECT_TRUE(std::regex_match(key, std::regex("[a-z_]+(\\.[a-z_]+)?"))) << key;
    fields[key] = line.substr(colon + 2);
  }
  return fields;
}

TEST(Frame, ReadyLineShowsTheRealPort) {
  auto frame = make_frame({"--quiet", "--port", "0"});
  ::testing::internal::CaptureStdout();
  const net::socket_t listener = frame->open_listener();
  const std::string out = ::testing::internal::GetCapturedStdout();
  std::smatch match;
  ASSERT_TRUE(std::regex_match(
      out, match, std::regex("listening 127\\.0\\.0\\.1:([0-9]+) model=test protocol=upper\n")))
      << out;
  const int port = std::stoi(match[1].str());
  EXPECT_NE(port, 0);
  EXPECT_EQ(frame->listen_endpoint().port(), port);
  // The port is really listening.
  const net::socket_t client = net::connect_to(frame->listen_endpoint());
  net::close_socket(client);

  net::close_socket(listener);
  finish_captured(*frame);
}

TEST(Frame, ReusePortListenersShareThePortAndTheReadyLine) {
  if (!net::reuse_port_supported()) GTEST_SKIP() << "no SO_REUSEPORT on this platform";
  auto frame = make_frame({"--quiet", "--port", "0"});
  ::testing::internal::CaptureStdout();
  const net::socket_t a = frame->open_listener({.reuse_port = true});
  const net::socket_t b = frame->open_listener({.reuse_port = true});
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(net::local_endpoint(a)->port(), net::local_endpoint(b)->port());
  net::close_socket(a);
  net::close_socket(b);
  finish_captured(*frame);
}

TEST(Frame, PortInUseThrowsWithTheRemedy) {
  // The listener must outlive the first Frame, and on Windows the last
  // WSACleanup (the Frame's) closes every socket, so keep Winsock up.
  const net::Startup keep_sockets;
  auto first = make_frame({"--quiet", "--port", "0"});
  ::testing::internal::CaptureStdout();
  const net::socket_t listener = first->open_listener();
  ::testing::internal::GetCapturedStdout();
  const std::string port = std::to_string(first->listen_endpoint().port());
  finish_captured(*first);
  first.reset();  // one Frame at a time (each installs the interrupt watcher)

  auto second = make_frame({"--quiet", "--port", port});
  try {
    second->open_listener();
    FAIL() << "bound a port in use";
  } catch (const net::NetError& e) {
    EXPECT_NE(std::string(e.what()).find("port " + port + " on 127.0.0.1"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--port"), std::string::npos);
  }
  net::close_socket(listener);
  finish_captured(*second);
}

TEST(Frame, RequestStopWakesTheModelOnce) {
  auto frame = make_frame({"--quiet"});
  std::atomic<int> wakes{0};
  std::atomic<bool> stopping_seen{false};
  frame->start([&] {
    stopping_seen = frame->stopping();
    ++wakes;
  });
  EXPECT_FALSE(frame->stopping());
  frame->request_stop();
  frame->request_stop();
  EXPECT_TRUE(frame->stopping());
  ASSERT_TRUE(eventually([&] { return wakes.load() == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(wakes.load(), 1);
  EXPECT_TRUE(stopping_seen.load());
  finish_captured(*frame);
  EXPECT_EQ(wakes.load(), 1);
}

TEST(Frame, StopRequestedBeforeStartWakesAtOnce) {
  auto frame = make_frame({"--quiet"});
  frame->request_stop();
  std::atomic<int> wakes{0};
  frame->start([&] { ++wakes; });
  EXPECT_TRUE(eventually([&] { return wakes.load() == 1; }));
  finish_captured(*frame);
}

TEST(Frame, DurationStopsTheRun) {
  auto frame = make_frame({"--quiet", "--duration", "200ms"});
  std::atomic<bool> woken{false};
  const auto start = std::chrono::steady_clock::now();
  frame->start([&] { woken = true; });
  ASSERT_TRUE(eventually([&] { return woken.load(); }, 20s));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 200ms);
  EXPECT_TRUE(frame->stopping());
  const auto fields = report_fields(finish_captured(*frame));
  EXPECT_GE(std::stod(fields.at("duration_s")), 0.2);
}

TEST(Frame, FinishWithoutStopDoesNotWake) {
  auto frame = make_frame({"--quiet"});
  std::atomic<int> wakes{0};
  frame->start([&] { ++wakes; });
  std::this_thread::sleep_for(20ms);
  finish_captured(*frame);
  EXPECT_TRUE(frame->stopping());
  EXPECT_EQ(wakes.load(), 0);
  EXPECT_EQ(frame->finish(), 0);  // idempotent, prints nothing more
}

TEST(Frame, FailMakesTheExitCodeOne) {
  auto frame = make_frame({"--quiet"});
  frame->start([] {});
  ::testing::internal::CaptureStderr();
  frame->fail("the completion port broke");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "test: the completion port broke\n");
  EXPECT_TRUE(frame->stopping());
  const auto fields = report_fields(finish_captured(*frame, 1));
  EXPECT_EQ(fields.at("exit_code"), "1");
}

TEST(Frame, AdmissionEnforcesMaxConnections) {
  auto frame = make_frame({"--quiet", "--max-connections", "2"});
  StatsShard& shard = frame->shard();
  EXPECT_TRUE(frame->admit(shard));
  EXPECT_TRUE(frame->admit(shard));
  EXPECT_FALSE(frame->admit(shard));
  EXPECT_EQ(frame->online(), 2U);
  frame->release(shard);
  EXPECT_EQ(frame->online(), 1U);
  EXPECT_TRUE(frame->admit(shard));
  EXPECT_EQ(frame->peak_online(), 2U);
  const StatsTotals t = frame->totals();
  EXPECT_EQ(t.accepted, 3U);
  EXPECT_EQ(t.closed, 1U);
  EXPECT_EQ(t.error(ErrorClass::refused), 1U);
  frame->release(shard);
  frame->release(shard);
  const auto fields = report_fields(finish_captured(*frame));
  EXPECT_EQ(fields.at("accepted"), "3");
  EXPECT_EQ(fields.at("peak_concurrent"), "2");
  EXPECT_EQ(fields.at("errors.refused"), "1");
  EXPECT_EQ(fields.at("online_at_exit"), "0");
}

TEST(Frame, UnlimitedByDefault) {
  auto frame = make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(frame->admit(shard));
  EXPECT_EQ(frame->peak_online(), 1000U);
  finish_captured(*frame);
}

TEST(Frame, ShardsAreSummedAndReused) {
  auto frame = make_frame({"--quiet"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      StatsShard& shard = frame->shard();
      for (int i = 0; i < 1000; ++i) {
        shard.requests(1);
        shard.bytes_in(10);
      }
      frame->retire(shard);
    });
  }
  for (auto& t : threads)
    t.join();
  const StatsTotals t = frame->totals();
  EXPECT_EQ(t.requests, 4000U);
  EXPECT_EQ(t.bytes_in, 40000U);
  // A retired shard is handed out again, with its counts.
  StatsShard& a = frame->shard();
  frame->retire(a);
  StatsShard& b = frame->shard();
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(frame->totals().requests, 4000U);
  finish_captured(*frame);
}

TEST(Frame, FinalReportIsKeyValueLines) {
  auto frame = make_frame({"--quiet", "--protocol", "echo", "--threads", "3"});
  frame->start([] {});
  StatsShard& shard = frame->shard();
  shard.requests(5);
  shard.bytes_in(100);
  shard.bytes_out(100);
  shard.error(ErrorClass::reset);
  frame->request_stop();
  const auto fields = report_fields(finish_captured(*frame));
  for (const char* key :
       {"model",          "protocol",          "version",         "platform",  "listen",
        "threads",        "duration_s",        "accepted",        "closed",    "peak_concurrent",
        "online_at_exit", "requests",          "requests_per_s",  "bytes_in",  "bytes_out",
        "errors",         "errors.malformed",  "errors.reset",    "errors.io", "cpu_user_s",
        "cpu_system_s",   "peak_memory_bytes", "process_threads", "handles",   "exit_code"}) {
    EXPECT_TRUE(fields.count(key)) << key;
  }
  EXPECT_EQ(fields.at("model"), "test");
  EXPECT_EQ(fields.at("protocol"), "echo");
  EXPECT_EQ(fields.at("threads"), "3");
  EXPECT_EQ(fields.at("requests"), "5");
  EXPECT_EQ(fields.at("bytes_in"), "100");
  EXPECT_EQ(fields.at("errors"), "1");
  EXPECT_EQ(fields.at("errors.reset"), "1");
  EXPECT_EQ(fields.at("platform"), platform::runtime_description());
  EXPECT_GT(std::stoull(fields.at("peak_memory_bytes")), 0U);
  EXPECT_GE(std::stoull(fields.at("process_threads")), 1U);
}

// A model's own figures (Frame::model_counter, Frame::model_fact) go
// through the frame's final statistics, after the common lines and before
// exit_code, as "<model>.<name>: <value>".
TEST(Frame, ModelFiguresAreFinalReportLinesBeforeTheExitCode) {
  auto frame = make_frame({"--quiet"});
  std::atomic<std::uint64_t>& completions = frame->model_counter("inline_completions");
  frame->model_fact("batch", "64");
  frame->start([] {});
  completions.fetch_add(3, std::memory_order_relaxed);
  frame->request_stop();
  const std::string out = finish_captured(*frame);
  const auto fields = report_fields(out);
  EXPECT_EQ(fields.at("test.inline_completions"), "3");
  EXPECT_EQ(fields.at("test.batch"), "64");
  EXPECT_LT(out.find("handles: "), out.find("test.inline_completions: "));
  EXPECT_LT(out.find("test.inline_completions: "), out.find("test.batch: "));
  EXPECT_LT(out.find("test.batch: "), out.find("exit_code: "));
}

TEST(Frame, LiveLinesAndStatsCsv) {
  const auto path = std::filesystem::temp_directory_path() / "wsb_unit_server_stats.csv";
  std::filesystem::remove(path);
  auto frame = make_frame({"--stats-interval", "20ms", "--stats-csv", path.string()});
  StatsShard& shard = frame->shard();
  ::testing::internal::CaptureStderr();
  frame->start([] {});
  ASSERT_TRUE(frame->admit(shard));
  shard.requests(7);
  std::this_thread::sleep_for(300ms);
  frame->request_stop();
  const std::string report = finish_captured(*frame);
  const std::string err = ::testing::internal::GetCapturedStderr();
  // stderr is a pipe here, so the live line comes as plain lines.
  EXPECT_TRUE(std::regex_search(
      err, std::regex("\\[ +[0-9]+\\.[0-9]s\\] online 1 peak 1 accepted 1 req/s [0-9]+ in "
                      "[0-9.]+ MB/s out [0-9.]+ MB/s errors 0\n")))
      << err;
  EXPECT_EQ(err.find('\r'), std::string::npos);

  std::ifstream in(path, std::ios::binary);
  const std::string csv((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = 0;
  const auto header = report::parse_record(csv, pos);
  std::vector<std::vector<std::string>> rows;
  while (pos < csv.size())
    rows.push_back(report::parse_record(csv, pos));
  ASSERT_GE(rows.size(), 3U) << csv;  // some interval rows and the final one
  const auto column = [&](std::string_view name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  ASSERT_LT(column("final"), header.size());
  ASSERT_LT(column("requests"), header.size());
  ASSERT_LT(column("errors.refused"), header.size());
  for (const auto& row : rows)
    ASSERT_EQ(row.size(), header.size());
  for (std::size_t i = 0; i + 1 < rows.size(); ++i)
    EXPECT_EQ(rows[i][column("final")], "0");
  EXPECT_EQ(rows.back()[column("final")], "1");
  EXPECT_EQ(rows.back()[column("requests")], "7");
  EXPECT_EQ(rows.back()[column("model")], "test");
  EXPECT_EQ(rows.back()[column("online")], "1");
  in.close();

  // A second run appends to the same file under the same header.
  frame.reset();
  auto again = make_frame({"--quiet", "--stats-csv", path.string()});
  again->start([] {});
  again->request_stop();
  finish_captured(*again);
  std::ifstream in2(path, std::ios::binary);
  const std::string csv2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  EXPECT_EQ(csv2.rfind(csv, 0), 0U);  // the earlier content is untouched
  EXPECT_GT(csv2.size(), csv.size());
  in2.close();
  std::filesystem::remove(path);
}

TEST(Frame, QuietMeansNoLiveLine) {
  auto frame = make_frame({"--quiet", "--stats-interval", "10ms"});
  ::testing::internal::CaptureStderr();
  frame->start([] {});
  std::this_thread::sleep_for(100ms);
  frame->request_stop();
  finish_captured(*frame);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

// A complete, if minimal, blocking server built from the frame: what the
// simplest model does, end to end over the loopback.
TEST(Frame, ServesARealConnection) {
  auto frame = make_frame({"--quiet", "--port", "0"});
  ::testing::internal::CaptureStdout();
  const net::socket_t listener = frame->open_listener();
  ::testing::internal::GetCapturedStdout();
  std::thread server([&] {
    StatsShard& shard = frame->shard();
    const net::socket_t s = net::accept_connection(listener);
    if (s == net::invalid_socket) return;
    net::set_nodelay(s);
    ASSERT_TRUE(frame->admit(shard));
    Connection c(*frame, shard);
    std::array<char, 4096> buffer{};
    while (!c.finished()) {
      while (!c.pending().empty()) {
        const auto n = net::send_some(s, c.pending());
        if (n < 0) {
          c.on_error(classify_io_error(net::last_error()));
          break;
        }
        c.on_sent(static_cast<std::size_t>(n));
      }
      if (c.finished() || !c.want_read()) continue;
      const auto n = net::recv_some(s, buffer);
      if (n > 0) {
        c.on_received(std::span(buffer.data(), static_cast<std::size_t>(n)));
      } else if (n == 0) {
        c.on_peer_closed();
      } else {
        c.on_error(classify_io_error(net::last_error()));
      }
    }
    if (!c.failed()) net::shutdown_send(s);
    net::close_socket(s);
    frame->release(shard);
  });

  const net::socket_t client = net::connect_to(frame->listen_endpoint());
  const std::string requests = upper_frame("hello") + upper_frame("World! 123");
  ASSERT_EQ(net::send_some(client, requests), static_cast<std::ptrdiff_t>(requests.size()));
  net::shutdown_send(client);
  std::string replies;
  std::array<char, 256> buffer{};
  for (;;) {
    const auto n = net::recv_some(client, buffer);
    if (n <= 0) break;
    replies.append(buffer.data(), static_cast<std::size_t>(n));
  }
  net::close_socket(client);
  server.join();
  net::close_socket(listener);
  EXPECT_EQ(replies, upper_frame("HELLO") + upper_frame("WORLD! 123"));
  const auto fields = report_fields(finish_captured(*frame));
  EXPECT_EQ(fields.at("requests"), "2");
  EXPECT_EQ(fields.at("accepted"), "1");
  EXPECT_EQ(fields.at("closed"), "1");
  EXPECT_EQ(fields.at("bytes_in"), std::to_string(requests.size()));
  EXPECT_EQ(fields.at("bytes_out"), std::to_string(requests.size()));
  EXPECT_EQ(fields.at("errors"), "0");
}

TEST(Frame, OnlyOneFrameAtATime) {
  auto frame = make_frame({"--quiet"});
  EXPECT_THROW(Frame("second", "x"), std::logic_error);
  finish_captured(*frame);
}

TEST(RunGuarded, TurnsExceptionsIntoExitCodeOne) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run_guarded([]() -> int { throw net::NetError(1, "port 1 on 127.0.0.1 is in use"); }),
            1);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "error: port 1 on 127.0.0.1 is in use\n");
  EXPECT_EQ(run_guarded([] { return 7; }), 7);
}

}  // namespace
}  // namespace wsb::server
