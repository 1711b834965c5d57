#include "render_intervals.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "hdr/log.hpp"
#include "hdr/output.hpp"
#include "hdr/shard_header.hpp"
#include "render_csv.hpp"
#include "report/csv.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::loadgen {

namespace {

// What this instance is, for `hdrtool merge --runs`: written for every run,
// so that a single instance's log merges with others like a shard's.
hdr::ShardHeader shard_header(const Options& options) {
  const DistributedOptions& d = options.distributed;
  hdr::ShardHeader h;
  h.tag = d.tag;
  h.shard_index = d.shard_index;
  h.shard_count = d.shard_count;
  h.protocol = std::string(proto::name(options.protocol));
  h.mode = std::string(name(options.mode));
  h.connections = options.connections;
  h.total_connections = d.total_connections > 0 ? d.total_connections : options.connections;
  h.rate = options.mode == Mode::open ? options.rate : 0.0;
  const double total_rate = d.total_connections > 0 ? d.total_rate : options.rate;
  h.total_rate = options.mode == Mode::open ? total_rate : 0.0;
  h.interval_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options.interval).count();
  h.start_at_ms = d.start_at_ms;
  return h;
}

}  // namespace

struct IntervalOutputs::Impl {
  std::ofstream intervals;
  std::unique_ptr<report::CsvWriter> intervals_csv;
  std::ofstream hlog;
  std::unique_ptr<hdr::LogWriter> hlog_writer;
  std::string intervals_path, hlog_path;
};

IntervalOutputs::IntervalOutputs(const Options& options, std::int64_t start_ms)
    : impl_(std::make_unique<Impl>()) {
  if (!options.intervals.empty()) {
    impl_->intervals_path = options.intervals;
    impl_->intervals.open(options.intervals, std::ios::binary | std::ios::trunc);
    if (!impl_->intervals)
      throw std::runtime_error("--intervals: cannot write " + options.intervals);
    impl_->intervals_csv = std::make_unique<report::CsvWriter>(impl_->intervals);
    for (const std::string& h : interval_csv_header())
      impl_->intervals_csv->field(h);
    impl_->intervals_csv->end_row();
  }
  if (!options.hlog.empty()) {
    impl_->hlog_path = options.hlog;
    impl_->hlog.open(options.hlog, std::ios::binary | std::ios::trunc);
    if (!impl_->hlog) throw std::runtime_error("--hlog: cannot write " + options.hlog);
    impl_->hlog_writer = std::make_unique<hdr::LogWriter>(impl_->hlog);
    impl_->hlog_writer->write_comment(std::string("[Logged with loadgen ") + WSB_VERSION + "]");
    const std::int64_t base_ms = options.distributed.start_at_ms.value_or(start_ms);
    impl_->hlog_writer->write_header(base_ms, base_ms);
    impl_->hlog_writer->write_comment(hdr::format_shard_line(shard_header(options)));
  }
}

IntervalOutputs::~IntervalOutputs() = default;

void IntervalOutputs::write_start(const StartOutcome& outcome) {
  if (!impl_->hlog_writer) return;
  impl_->hlog_writer->write_comment(
      hdr::format_start_line(outcome.offset_ms, outcome.late, outcome.open_at_start));
  impl_->hlog.flush();
}

void IntervalOutputs::write(const IntervalReport& interval, Mode mode) {
  if (impl_->intervals_csv) {
    for (const std::string& f : interval_csv_row(interval))
      impl_->intervals_csv->field(f);
    impl_->intervals_csv->end_row();
    impl_->intervals.flush();
  }
  if (impl_->hlog_writer && interval.phase != Phase::warmup) {
    const double start =
        static_cast<double>(interval.start_ms - impl_->hlog_writer->base_time_ms()) / 1e3;
    const double end =
        static_cast<double>(interval.end_ms - impl_->hlog_writer->base_time_ms()) / 1e3;
    if (mode != Mode::hold) {
      impl_->hlog_writer->write_interval(start, end, (*interval.histograms)[Series::latency]);
    }
    if (mode == Mode::open) {
      impl_->hlog_writer->write_interval(start, end, (*interval.histograms)[Series::uncorrected]);
    }
    impl_->hlog_writer->write_interval(start, end, (*interval.histograms)[Series::connect]);
    // chat: the "delivery" tag, in intervals that delivered anything.
    const hdr::Histogram& delivery = (*interval.histograms)[Series::delivery];
    if (delivery.total_count() > 0) impl_->hlog_writer->write_interval(start, end, delivery);
    impl_->hlog.flush();
  }
}

void IntervalOutputs::close() {
  if (impl_->intervals.is_open()) {
    impl_->intervals.close();
    if (!impl_->intervals)
      throw std::runtime_error("--intervals: writing " + impl_->intervals_path + " failed");
  }
  if (impl_->hlog.is_open()) {
    impl_->hlog.close();
    if (!impl_->hlog) throw std::runtime_error("--hlog: writing " + impl_->hlog_path + " failed");
  }
}

void write_hgrm(const std::string& path, const RunResult& result, Mode mode) {
  hdr::DistributionOptions ms;
  ms.value_unit_scaling_ratio = 1e6;
  auto write = [&](const std::filesystem::path& p, const hdr::Histogram& h) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("--hgrm: cannot write " + p.string());
    hdr::write_percentile_distribution(out, h, ms);
    out.close();
    if (!out) throw std::runtime_error("--hgrm: writing " + p.string() + " failed");
  };
  const Series main = mode == Mode::hold ? Series::connect : Series::latency;
  write(path, result.histograms[main]);
  if (mode == Mode::open) {
    std::filesystem::path p(path);
    std::filesystem::path other =
        p.parent_path() / (p.stem().string() + ".uncorrected" + p.extension().string());
    write(other, result.histograms[Series::uncorrected]);
  }
}

}  // namespace wsb::loadgen
