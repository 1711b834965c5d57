// The engines' shared slot bookkeeping (engines/slot_reports.hpp): tokens
// round-trip, a report reaches the handler only while its slot's generation
// is unchanged, a newer report of a slot replaces the older one, and
// reports queued by a callback wait for the next delivery; an engine's
// delivery settles each slot before its handler hears of it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engines/slot_reports.hpp"

namespace wsb::loadgen {
namespace {

TEST(SlotToken, PacksSlotAndGeneration) {
  const std::uint64_t t = SlotToken::pack(12345, 0xFFFFFFFEu);
  EXPECT_EQ(SlotToken::slot(t), 12345u);
  EXPECT_EQ(SlotToken::generation(t), 0xFFFFFFFEu);
}

TEST(DeferredReports, StaleReportsAreDropped) {
  std::vector<std::uint32_t> generation(4, 0);
  DeferredReports reports(4);
  reports.add(1, 0, ReportKind::connected, Failure::refused, 111);
  reports.add(2, 0, ReportKind::closed, Failure::reset, 104);
  ++generation[2];  // the workload closed slot 2 before the next poll
  std::vector<DeferredReport> seen;
  const auto current = [&](ConnId id) { return generation[id]; };
  EXPECT_EQ(reports.deliver(current, [&](const DeferredReport& r) { seen.push_back(r); }), 1u);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].id, 1u);
  EXPECT_EQ(seen[0].kind, ReportKind::connected);
  EXPECT_EQ(seen[0].failure, Failure::refused);
  EXPECT_EQ(seen[0].code, 111);
  EXPECT_TRUE(reports.empty());
}

TEST(DeferredReports, ANewerReportReplacesTheOlder) {
  std::vector<std::uint32_t> generation(2, 0);
  DeferredReports reports(2);
  reports.add(0, 0, ReportKind::connected, Failure::refused, 1);
  generation[0] = 1;  // connect() again
  reports.add(0, 1, ReportKind::connected, Failure::no_address, 2);
  std::vector<int> codes;
  reports.deliver([&](ConnId id) { return generation[id]; },
                  [&](const DeferredReport& r) { codes.push_back(r.code); });
  EXPECT_EQ(codes, std::vector<int>{2});
}

TEST(DeferredReports, ReportsQueuedByACallbackWaitForTheNextDelivery) {
  std::vector<std::uint32_t> generation(2, 0);
  DeferredReports reports(2);
  reports.add(0, 0, ReportKind::connected, Failure::refused, 1);
  const auto current = [&](ConnId id) { return generation[id]; };
  std::vector<ConnId> order;
  reports.deliver(current, [&](const DeferredReport& r) {
    order.push_back(r.id);
    reports.add(r.id, 0, ReportKind::connected, Failure::refused, 1);  // the handler reconnects
  });
  EXPECT_EQ(order.size(), 1u);
  EXPECT_FALSE(reports.empty());
  EXPECT_EQ(reports.deliver(current, [&](const DeferredReport& r) { order.push_back(r.id); }), 1u);
  EXPECT_EQ(order.size(), 2u);
  reports.add(1, 0, ReportKind::closed, Failure::other, 5);
  reports.clear();
  EXPECT_TRUE(reports.empty());
  EXPECT_EQ(reports.deliver(current, [](const DeferredReport&) {}), 0u);
}

// Records the callbacks an engine would make, with the slot's `settled` flag
// as it was at the time.
struct RecordingHandler final : EngineHandler {
  struct Slot {
    std::uint32_t generation = 0;
    bool settled = false;
  };
  std::vector<Slot> slots = std::vector<Slot>(3);
  std::vector<std::string> calls;

  void on_connected(ConnId id, Failure failure, int code) noexcept override {
    calls.push_back("connected " + std::to_string(id) + " " + std::string(name(failure)) + " " +
                    std::to_string(code) + (slots[id].settled ? " settled" : ""));
  }
  void on_data(ConnId, const char*, std::size_t) noexcept override { calls.push_back("data"); }
  void on_closed(ConnId id, Failure failure, int code) noexcept override {
    calls.push_back("closed " + std::to_string(id) + " " + std::string(name(failure)) + " " +
                    std::to_string(code) + (slots[id].settled ? " settled" : ""));
  }
};

TEST(DeferredReports, AnEngineDeliveryTakesTheSlotsGenerationsAndSettlesFirst) {
  RecordingHandler h;
  DeferredReports reports(3);
  reports.add(h.slots, 0, ReportKind::connected, Failure::refused, 111);
  reports.add(h.slots, 1, ReportKind::closed, Failure::reset, 104);
  reports.add(h.slots, 2, ReportKind::connected, Failure::none, 0);
  ++h.slots[2].generation;  // slot 2 closed meanwhile: its report is stale
  const auto settle = [](RecordingHandler::Slot& slot, const DeferredReport&) {
    slot.settled = true;
  };
  EXPECT_EQ(reports.deliver(h.slots, h, settle), 2u);
  EXPECT_EQ(h.calls, (std::vector<std::string>{"connected 0 refused 111 settled",
                                               "closed 1 reset 104 settled"}));
  EXPECT_FALSE(h.slots[2].settled);
  EXPECT_TRUE(reports.empty());
}

}  // namespace
}  // namespace wsb::loadgen
