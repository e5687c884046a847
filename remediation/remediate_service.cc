#include "remediation/remediate_service.h"

#include <algorithm>
#include <limits>
#include <chrono>

#include "common/log.h"
#include "stream/event_sink.h"
#include "stream/log_reader.h"

namespace vigil::remediation {
namespace {

using detectors::Duration;
using detectors::Timestamp;

constexpr std::string_view kLog = "remediate";
constexpr std::size_t kPoolThreads = 8;
constexpr std::size_t kPollBatch = 500;
constexpr Duration kPollTimeout{100};
constexpr Duration kReadOutcomes = std::chrono::seconds(30);
constexpr Duration kShutdownWait = std::chrono::seconds(30);
constexpr Duration kFlush = std::chrono::seconds(10);
constexpr auto kDecisionWait = std::chrono::seconds(10);

}  // namespace

RemediateService::RemediateService(Options options, const detectors::Clock& clock,
                                   RemediationProbe& probe, Executors executors)
    : options_(std::move(options)),
      clock_(clock),
      probe_(probe),
      executors_(std::move(executors)),
      engine_(options_.spec) {}

RemediateService::~RemediateService() {
  {
    std::lock_guard lock(pool_mutex_);
    stopping_ = true;
    queue_.clear();  // nothing starts once the service is going away
  }
  pool_cv_.notify_all();
  for (std::thread& t : pool_) t.join();
  if (source_) source_->close();
}

std::vector<Approval> RemediateService::pending() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

ApprovalDesk::Result RemediateService::decide(const std::string& id, bool approve,
                                              const std::string& by, const std::string& comment) {
  // Decisions are made by the loop that owns the engine, one at a time: of
  // many concurrent calls on one approval exactly one finds it pending.
  auto request = std::make_shared<DecisionRequest>();
  request->id = id;
  request->approve = approve;
  request->by = by;
  request->comment = comment;
  std::future<Result> result = request->result.get_future();
  {
    std::lock_guard lock(decisions_mutex_);
    decisions_.push_back(request);
  }
  if (result.wait_for(kDecisionWait) == std::future_status::ready) return result.get();
  {
    // Not taken yet: withdraw it, so it never takes effect after the caller was told no.
    std::lock_guard lock(decisions_mutex_);
    if (const auto it = std::find(decisions_.begin(), decisions_.end(), request);
        it != decisions_.end()) {
      decisions_.erase(it);
      return Result{Engine::Decision::kConflict, std::nullopt, /*unavailable=*/true};
    }
  }
  return result.get();  // being decided right now: its answer is the truth
}

void RemediateService::workerLoop() {
  for (;;) {
    Execution x;
    {
      std::unique_lock lock(pool_mutex_);
      pool_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      x = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      running_partitions_.insert(x.partition);
    }
    ActionResult result;
    const auto executor = executors_.find(x.action->type);
    if (executor == executors_.end() || executor->second == nullptr) {
      result.detail = "no executor for this action type";
    } else {
      try {
        result = executor->second->run(x.call());
      } catch (const std::exception& e) {
        result = ActionResult{};
        result.detail = std::string("executor failed: ") + e.what();
      }
    }
    std::lock_guard lock(pool_mutex_);
    --running_;
    running_partitions_.erase(running_partitions_.find(x.partition));
    done_.push_back(Done{x.id, std::move(result)});
  }
}

void RemediateService::drainResults(Effects& fx) {
  std::deque<Done> done;
  {
    std::lock_guard lock(pool_mutex_);
    done.swap(done_);
  }
  for (const Done& d : done) engine_.onResult(d.id, d.result, clock_.now(), fx);
}

void RemediateService::apply(Effects& fx) {
  for (OutcomeEvent& o : fx.outcomes) {
    const std::string json = o.toJson();
    const std::uint64_t seq = sink_->produce(o.key(), json);
    if (const auto it = first_outcome_seq_.find(o.event_id); it != first_outcome_seq_.end()) {
      it->second = std::min(it->second, seq);
    }
    const ReceivedFailure* firing = engine_.firingOf(o.event_id);
    const double since =
        firing != nullptr ? detectors::toSeconds(o.timestamp - firing->event.timestamp) : 0.0;
    probe_.addOutcome(o, std::max(0.0, since));
    VIGIL_LOG(kInfo, kLog) << o.dataset << "/" << o.pipeline_id << " "
                           << detectors::failureTypeName(o.failure_type) << ": "
                           << outcomeStatusName(o.status)
                           << (o.action.empty() ? "" : " " + o.action) << " (attempt " << o.attempt
                           << ")";
  }
  fx.outcomes.clear();
  if (!fx.executions.empty()) {
    std::lock_guard lock(pool_mutex_);
    for (Execution& x : fx.executions) queue_.push_back(std::move(x));
  }
  fx.executions.clear();
  pool_cv_.notify_all();
}

void RemediateService::handleMessage(const stream::Message& message, Effects& fx) {
  const stream::Record& r = message.record();
  std::string error;
  auto failure = parseFailureEvent(r.value, error);
  std::string event_id;
  if (!failure) {
    probe_.addInvalidFailureEvent();
    VIGIL_LOG(kWarn, kLog) << r.topic << "[" << r.partition << "]@" << r.offset
                           << ": not a failure event (" << error << "): skipped";
  } else {
    failure->partition = r.partition;
    event_id = failure->event_id;
    // Marked before the engine decides, so the incident's first outcome, if
    // produced right away, is caught by apply().
    first_outcome_seq_.try_emplace(event_id, std::numeric_limits<std::uint64_t>::max());
    engine_.onFailure(*failure, clock_.now(), fx);
  }
  apply(fx);  // its outcomes are queued now: the commit waits for them
  processed_[stream::TopicPartition{std::string(r.topic), r.partition}].push_back(
      Processed{r.offset + 1, event_id, sink_->nextSequence()});
}

void RemediateService::commitDone(bool sync) {
  // Everything produced so far must be acknowledged: the outcomes are what a
  // restarted worker rebuilds from. An incident nothing durable knows yet
  // (queued behind another of its pipeline) holds its partition back.
  if (!source_) return;
  const std::uint64_t acked = sink_->ackedBefore();
  std::vector<std::string> unrecorded = engine_.unrecorded();
  std::sort(unrecorded.begin(), unrecorded.end());
  std::vector<stream::CommitPosition> positions;
  for (auto& [tp, entries] : processed_) {
    std::optional<stream::Offset> commit;
    while (!entries.empty()) {
      const Processed& p = entries.front();
      if (p.needs_acked > acked) break;
      if (!p.event_id.empty() &&
          std::binary_search(unrecorded.begin(), unrecorded.end(), p.event_id)) {
        break;
      }
      // An incident's first outcome must be acknowledged, not only produced.
      const auto first = first_outcome_seq_.find(p.event_id);
      if (first != first_outcome_seq_.end() &&
          first->second != std::numeric_limits<std::uint64_t>::max() && first->second >= acked) {
        break;
      }
      if (first != first_outcome_seq_.end()) first_outcome_seq_.erase(first);
      commit = p.next_offset;
      entries.pop_front();
    }
    if (commit) positions.push_back(stream::CommitPosition{tp, *commit});
  }
  if (positions.empty()) return;
  if (sync) {
    source_->commitSync(positions);
  } else {
    source_->commit(positions);
  }
}

void RemediateService::refreshSnapshot() {
  std::vector<Approval> approvals = engine_.pendingApprovals();
  probe_.setApprovalsPending(approvals.size());
  // pendingApprovals() is oldest first.
  probe_.setOldestApprovalRequested(
      approvals.empty() ? 0.0 : static_cast<double>(detectors::toMillis(approvals.front().requested_at)) / 1000.0);
  probe_.setIncidentsOpen(engine_.openIncidents());
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(approvals);
}

void RemediateService::readOutcomes() {
  std::size_t bad = 0;
  outcomes_reader_->catchUp(
      [&](std::string_view, std::string_view value) {
        std::string error;
        auto o = OutcomeEvent::fromJson(value, error);
        if (!o) {
          ++bad;
          return;
        }
        auto [it, inserted] = recorded_.try_emplace(o->event_id);
        if (inserted) recorded_order_.push_back(o->event_id);
        if (o->status == OutcomeStatus::kResolved) it->second.closed_at = o->timestamp;
        it->second.outcomes.push_back(std::move(*o));
      },
      kReadOutcomes);
  if (bad > 0) {
    VIGIL_LOG(kWarn, kLog) << bad << " unreadable message(s) on " << options_.spec.outcomes_topic
                           << ": skipped";
  }
  // Closed a day ago: not needed to recognise a redelivery any more.
  const Timestamp forget_before = clock_.now() - std::chrono::hours(24);
  std::erase_if(recorded_order_, [&](const std::string& id) {
    const auto it = recorded_.find(id);
    if (it == recorded_.end() || !it->second.closed_at || *it->second.closed_at > forget_before) {
      return false;
    }
    recorded_.erase(it);
    return true;
  });
}

void RemediateService::onAssigned(const std::vector<stream::TopicPartition>& partitions) {
  // What the previous owner recorded for these partitions' pipelines.
  readOutcomes();
  std::size_t restored = 0;
  for (const std::string& id : recorded_order_) {
    const auto& outcomes = recorded_.at(id).outcomes;
    const std::int32_t partition = outcomes.front().detail.value("partition", -1);
    const bool ours = std::any_of(partitions.begin(), partitions.end(),
                                  [&](const auto& tp) { return tp.partition == partition; });
    if (!ours || engine_.knows(id)) continue;
    for (const OutcomeEvent& o : outcomes) engine_.restore(o);
    restored += !recorded_.at(id).closed_at.has_value();
  }
  Effects fx;
  engine_.resume(clock_.now(), fx);
  apply(fx);
  refreshSnapshot();
  for (const auto& tp : partitions) {
    VIGIL_LOG(kInfo, kLog) << "partition " << tp.topic << "[" << tp.partition << "] assigned";
  }
  if (restored > 0) {
    VIGIL_LOG(kInfo, kLog) << "rebuilt " << restored << " open incident(s) from "
                           << options_.spec.outcomes_topic;
  }
  ready_.store(true, std::memory_order_release);
}

void RemediateService::onRevoked(const std::vector<stream::TopicPartition>& partitions, bool lost) {
  const auto revoked = [&](std::int32_t p) {
    return std::any_of(partitions.begin(), partitions.end(),
                       [&](const auto& tp) { return tp.partition == p; });
  };
  // Nothing of these partitions starts here any more: the next owner issues it.
  {
    std::lock_guard lock(pool_mutex_);
    std::erase_if(queue_, [&](const Execution& x) { return revoked(x.partition); });
  }
  if (!lost && sink_) {
    // What is running finishes and is recorded before the next owner reads the outcomes.
    const auto deadline = std::chrono::steady_clock::now() + kFlush;
    Effects fx;
    for (;;) {
      bool busy = false;
      {
        std::lock_guard lock(pool_mutex_);
        for (const auto& tp : partitions)
          busy = busy || running_partitions_.count(tp.partition) > 0;
      }
      drainResults(fx);
      std::erase_if(fx.executions, [&](const Execution& x) { return revoked(x.partition); });
      apply(fx);
      if (!busy || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    sink_->flush(kFlush);
    commitDone(true);
  }
  for (const auto& tp : partitions) {
    engine_.forgetPartition(tp.partition);
    if (const auto it = processed_.find(tp); it != processed_.end()) {
      for (const Processed& p : it->second) first_outcome_seq_.erase(p.event_id);
      processed_.erase(it);
    }
    VIGIL_LOG(kInfo, kLog) << "partition " << tp.topic << "[" << tp.partition << "]"
                           << (lost ? " lost" : " revoked");
  }
  refreshSnapshot();
}

int RemediateService::run(const std::atomic<bool>& stop) {
  std::string error;
  sink_ = stream::EventSink::create(options_.kafka, options_.spec.outcomes_topic, error);
  if (!sink_) {
    VIGIL_LOG(kError, kLog) << error;
    return 1;
  }
  outcomes_reader_ = stream::LogReader::create(options_.kafka, options_.spec.outcomes_topic, error);
  if (!outcomes_reader_) {
    VIGIL_LOG(kError, kLog) << error;
    return 1;
  }
  source_ = stream::KafkaSource::create(
      {options_.kafka, options_.spec.group_id, {options_.spec.failures_topic}}, *this, error);
  if (!source_) {
    VIGIL_LOG(kError, kLog) << error;
    return 1;
  }
  for (std::size_t i = 0; i < kPoolThreads; ++i) pool_.emplace_back([this] { workerLoop(); });
  VIGIL_LOG(kInfo, kLog) << "consuming " << options_.spec.failures_topic << " in group "
                         << options_.spec.group_id << ", outcomes to "
                         << options_.spec.outcomes_topic
                         << (options_.spec.mode == Mode::kShadow ? " (shadow mode)" : "");

  std::vector<stream::Message> batch;
  Effects fx;
  try {
    while (!stop.load(std::memory_order_relaxed)) {
      batch.clear();
      source_->poll(batch, kPollBatch, kPollTimeout);
      for (const stream::Message& m : batch) handleMessage(m, fx);
      drainResults(fx);
      std::deque<std::shared_ptr<DecisionRequest>> decisions;
      {
        std::lock_guard lock(decisions_mutex_);
        decisions.swap(decisions_);
      }
      for (const auto& d : decisions) {
        Approval decided;
        const auto decision =
            engine_.decide(d->id, d->approve, d->by, d->comment, clock_.now(), fx, &decided);
        d->result.set_value(Result{decision, decision == Engine::Decision::kDecided
                                                 ? std::optional<Approval>(decided)
                                                 : std::nullopt});
      }
      engine_.tick(clock_.now(), fx);
      apply(fx);
      sink_->poll();
      commitDone(false);
      refreshSnapshot();
      probe_.addDeliveryFailures(sink_->failedDeliveries() - reported_delivery_failures_);
      reported_delivery_failures_ = sink_->failedDeliveries();
    }
  } catch (const std::exception& e) {
    VIGIL_LOG(kError, kLog) << "remediation loop failed: " << e.what();
    return 1;
  }

  // Executions in flight finish and are recorded; nothing new starts.
  const auto deadline = std::chrono::steady_clock::now() + kShutdownWait;
  for (;;) {
    {
      std::lock_guard lock(pool_mutex_);
      queue_.clear();
      if (running_ == 0 && done_.empty()) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      VIGIL_LOG(kWarn, kLog) << "executions still running at shutdown: their outcomes are "
                                "not recorded; a restart issues them again";
      break;
    }
    drainResults(fx);
    fx.executions.clear();  // decided after stop: not started
    apply(fx);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!sink_->flush(kFlush)) {
    VIGIL_LOG(kWarn, kLog) << sink_->inFlight() << " outcome(s) not acknowledged";
  }
  commitDone(true);
  source_->close();
  return 0;
}

}  // namespace vigil::remediation
