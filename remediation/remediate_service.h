#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "detectors/clock.h"
#include "remediation/approvals_api.h"
#include "remediation/engine.h"
#include "remediation/remediation_probe.h"
#include "stream/kafka_source.h"

namespace vigil::stream {
class EventSink;
class LogReader;
}  // namespace vigil::stream

namespace vigil::remediation {

// `vigil remediate`: consumes failure events in a consumer group (the topic
// is keyed by pipeline, so a pipeline belongs to one worker at a time), feeds
// them to the Engine, runs the executions it asks for on a small pool of
// threads, records every outcome on the outcomes topic (idempotent producer)
// and serves the approvals API. The outcomes topic is the durable state: when
// partitions are assigned, the incidents of those partitions are rebuilt from
// it before their failure events are read. A failure event's offset is
// committed once the outcomes it caused are acknowledged and its incident is
// known to the outcomes topic. run() owns the loop; decide(), pending() and
// ready() may be called from any thread.
class RemediateService final : private stream::KafkaSource::Listener, public ApprovalDesk {
 public:
  struct Options {
    stream::KafkaProperties kafka;
    RemediateSpec spec;
  };
  using Executors = std::map<ActionType, Executor*>;

  RemediateService(Options options, const detectors::Clock& clock, RemediationProbe& probe,
                   Executors executors);
  ~RemediateService() override;

  // Runs until `stop` is set; then waits (up to 30 s) for executions in
  // flight, records their outcomes, commits and leaves the group. Returns 0,
  // or 1 on a runtime failure (logged).
  int run(const std::atomic<bool>& stop);
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  std::vector<Approval> pending() const override;
  Result decide(const std::string& id, bool approve, const std::string& by,
                const std::string& comment) override;

 private:
  struct Done {
    std::string id;
    ActionResult result;
  };
  struct DecisionRequest {
    std::string id;
    bool approve;
    std::string by;
    std::string comment;
    std::promise<Result> result;
  };
  struct Processed {
    stream::Offset next_offset;  // the offset after this failure event
    std::string event_id;        // its incident, if it opened one
    std::uint64_t needs_acked;   // outcome sequence that must be acknowledged first
  };
  // Per incident opened by a failure event not yet committed: the sequence of
  // its first outcome. The event's offset waits until that is acknowledged:
  // until then nothing durable knows the incident (an action it ran may have
  // had its effect, and only the outcome lets a successor know).
  std::map<std::string, std::uint64_t> first_outcome_seq_;
  // What the outcomes topic holds of one incident: its outcomes in log order.
  // Closed incidents are kept a day too, so a redelivered firing event of
  // theirs is recognised by whoever owns the partition next.
  struct Recorded {
    std::vector<OutcomeEvent> outcomes;
    std::optional<detectors::Timestamp> closed_at;
  };

  void onAssigned(const std::vector<stream::TopicPartition>& partitions) override;
  void onRevoked(const std::vector<stream::TopicPartition>& partitions, bool lost) override;

  void handleMessage(const stream::Message& message, Effects& fx);
  void apply(Effects& fx);
  void commitDone(bool sync);
  void refreshSnapshot();
  void workerLoop();
  void readOutcomes();
  void drainResults(Effects& fx);

  Options options_;
  const detectors::Clock& clock_;
  RemediationProbe& probe_;
  Executors executors_;
  Engine engine_;
  std::unique_ptr<stream::EventSink> sink_;
  std::unique_ptr<stream::KafkaSource> source_;
  std::unique_ptr<stream::LogReader> outcomes_reader_;
  // Incidents on the outcomes topic, by event_id: what an assignment restores.
  std::map<std::string, Recorded> recorded_;
  std::vector<std::string> recorded_order_;  // event ids in the order first seen
  std::map<stream::TopicPartition, std::deque<Processed>> processed_;  // not yet committed
  std::uint64_t reported_delivery_failures_ = 0;

  // Executions run on a pool; results come back through done_.
  std::vector<std::thread> pool_;
  std::mutex pool_mutex_;
  std::condition_variable pool_cv_;
  std::deque<Execution> queue_;
  std::deque<Done> done_;
  std::size_t running_ = 0;
  std::multiset<std::int32_t> running_partitions_;  // of executions in flight
  bool stopping_ = false;

  std::mutex decisions_mutex_;
  std::deque<std::shared_ptr<DecisionRequest>> decisions_;

  mutable std::mutex snapshot_mutex_;
  std::vector<Approval> snapshot_;

  std::atomic<bool> ready_{false};
};

}  // namespace vigil::remediation
