#include "render_intervals.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "hdr/log.hpp"
#include "hdr/output.hpp"
#include "render_csv.hpp"
#include "report/csv.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::loadgen {

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
    impl_->hlog_writer->write_header(start_ms, start_ms);
  }
}

IntervalOutputs::~IntervalOutputs() = default;

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
