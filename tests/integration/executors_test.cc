// The executors against the world on loopback: an in-process HTTP stub (vigil::http::HttpServer)
// for http and pagerduty actions, real programs for command actions. Timeouts are a second or
// less so the file runs in a few seconds.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "detectors/failure_event.h"
#include "http/http_server.h"
#include "remediation/command_executor.h"
#include "remediation/http_executor.h"
#include "remediation/pagerduty_executor.h"

namespace vigil::remediation {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

const std::string kRoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF";

detectors::FailureEvent sampleEvent(std::string pipeline_id = "etl_orders_01") {
  detectors::FailureEvent e;
  e.status = detectors::EventStatus::kFiring;
  e.timestamp = detectors::timestampFromMillis(1736951520000);
  e.dataset = "orders";
  e.pipeline_id = std::move(pipeline_id);
  e.failure_type = detectors::FailureType::kLatencySpike;
  e.severity = detectors::Severity::kError;
  return e;
}

// An action, a failure event and a call pointing at both.
struct Call {
  explicit Call(ActionType type, std::string pipeline_id = "etl_orders_01")
      : event(sampleEvent(std::move(pipeline_id))) {
    action.name = "act";
    action.type = type;
    action.timeout = seconds(5);
    call.action = &action;
    call.event = &event;
    call.attempt = 1;
    call.idempotency_key = "idem-0123456789abcdef";
  }
  ActionSpec action;
  detectors::FailureEvent event;
  ActionCall call;
};

// An HttpServer on a free loopback port that records every request and answers with the
// responder of the current test, which gets the request and its 1-based number.
class Stub {
 public:
  using Respond = std::function<http::Response(const http::Request&, int n)>;
  Stub() {
    std::string error;
    server_ = http::HttpServer::start(
        "stub", "127.0.0.1:0",
        [this](const http::Request& req) {
          Respond respond;
          int n = 0;
          {
            std::lock_guard lock(mu_);
            requests_.push_back(req);
            times_.push_back(SteadyClock::now());
            n = static_cast<int>(requests_.size());
            respond = respond_;
          }
          return respond(req, n);
        },
        error);
    if (!server_) throw std::runtime_error(error);
  }
  // Forgets what earlier tests sent and answers with `respond` from now on.
  void reset(Respond respond) {
    std::lock_guard lock(mu_);
    respond_ = std::move(respond);
    requests_.clear();
    times_.clear();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::vector<http::Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<SteadyClock::time_point> times() const {
    std::lock_guard lock(mu_);
    return times_;
  }

 private:
  mutable std::mutex mu_;
  Respond respond_;
  std::vector<http::Request> requests_;
  std::vector<SteadyClock::time_point> times_;
  std::unique_ptr<http::HttpServer> server_;
};

// The one stub of the process, answering with `respond`. Never destroyed: stopping civetweb
// takes about 2 s (its master thread's poll period), which would dominate every test; the
// process's exit ends it.
Stub& freshStub(Stub::Respond respond) {
  static Stub* const stub = new Stub();
  stub->reset(std::move(respond));
  return *stub;
}

// A loopback TCP listener; `raw` accepts one connection, keeps the request head, answers 200.
// Without `raw` it never accepts, so connections sit in the backlog and get no answer.
class RawListener {
 public:
  explicit RawListener(bool raw) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    if (raw) thread_ = std::thread([this] { serveOne(); });
  }
  ~RawListener() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string head() {
    if (thread_.joinable()) thread_.join();
    return head_;
  }

 private:
  void serveOne() {
    const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    char buf[4096];
    while (head_.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(conn, buf, sizeof buf);
      if (n <= 0) break;
      head_.append(buf, static_cast<std::size_t>(n));
    }
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!::write(conn, answer.data(), answer.size());
    ::close(conn);
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string head_;
};

// A port nothing listens on (bound, then released).
int closedPort() {
  RawListener l(false);
  return l.port();
}

milliseconds since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
}

// ---------------------------------------------------------------------------------------------
// http

TEST(HttpExecutorTest, Status2xxIsDoneWithExpandedRequest) {
  Stub& stub = freshStub([](const http::Request&, int) { return http::Response::json(201, "{}"); });
  Call c(ActionType::kHttp);
  c.action.method = "POST";
  c.action.url = stub.url("/rerun/{pipeline_id}?attempt={attempt}");
  c.action.headers["X-Dataset"] = "{dataset}";
  c.action.headers["Authorization"] = "Bearer s3cr3t-token";
  c.action.body = R"({"pipeline": "{pipeline_id}", "type": "{failure_type}"})";
  HttpExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_TRUE(r.done()) << r.detail;
  EXPECT_EQ(r.http_status, 201);
  EXPECT_EQ(r.tries, 1u);
  EXPECT_THAT(r.detail, StartsWith("HTTP 201 in "));
  EXPECT_THAT(r.detail, Not(HasSubstr("s3cr3t")));
  const auto reqs = stub.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const http::Request& req = reqs[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/rerun/etl_orders_01");
  EXPECT_EQ(req.query, "attempt=1");
  EXPECT_EQ(req.headers.at("idempotency-key"), "idem-0123456789abcdef");
  EXPECT_EQ(req.headers.at("user-agent"), "vigil/0.1");
  EXPECT_EQ(req.headers.at("content-type"), "application/json");
  EXPECT_EQ(req.headers.at("x-dataset"), "orders");
  EXPECT_EQ(req.headers.at("authorization"), "Bearer s3cr3t-token");
  EXPECT_EQ(Json::parse(req.body),
            (Json{{"pipeline", "etl_orders_01"}, {"type", "latency_spike"}}));
}

// A header read from a file is sent as read (placeholders are not expanded in a secret), and
// never shows in the result, whatever the server answers.
TEST(HttpExecutorTest, SecretHeaderIsSentAsReadAndNeverReported) {
  Stub& stub = freshStub([](const http::Request& req, int) {
    return http::Response::text(500, "denied: " + req.headers.at("authorization") + "\n");
  });
  Call c(ActionType::kHttp);
  c.action.url = stub.url("/rerun/{pipeline_id}");
  c.action.timeout = milliseconds(300);
  c.action.secret_headers["Authorization"] = "Bearer {pipeline_id}-s3cr3t";
  HttpExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_FALSE(r.done());
  EXPECT_THAT(r.detail, Not(HasSubstr("s3cr3t")));
  const auto reqs = stub.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Bearer {pipeline_id}-s3cr3t");
}

TEST(HttpExecutorTest, Retries503ThenDoneWithTheSameIdempotencyKey) {
  Stub& stub = freshStub([](const http::Request&, int n) {
    return n <= 2 ? http::Response::text(503, "busy\n") : http::Response::json(200, "{}");
  });
  Call c(ActionType::kHttp);
  c.action.url = stub.url("/rerun/{pipeline_id}");
  HttpExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_TRUE(r.done()) << r.detail;
  EXPECT_EQ(r.tries, 3u);
  EXPECT_THAT(r.detail, StartsWith("HTTP 200 after 3 tries in "));
  const auto reqs = stub.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& req : reqs) EXPECT_EQ(req.headers.at("idempotency-key"), c.call.idempotency_key);
  // Backoff: about 200 ms, then about 400 ms, each jittered to at least half.
  const auto t = stub.times();
  EXPECT_GE(t[1] - t[0], milliseconds(90));
  EXPECT_GE(t[2] - t[1], milliseconds(190));
}

TEST(HttpExecutorTest, NotFoundFailsWithoutRetry) {
  Stub& stub =
      freshStub([](const http::Request&, int) { return http::Response::text(404, "no\n"); });
  Call c(ActionType::kHttp);
  c.action.url = stub.url("/rerun/{pipeline_id}");
  HttpExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.http_status, 404);
  EXPECT_EQ(r.tries, 1u);
  EXPECT_THAT(r.detail, StartsWith("HTTP 404"));
  EXPECT_EQ(stub.requests().size(), 1u);
}

TEST(HttpExecutorTest, RetryAfterOn429IsHonoured) {
  Stub& stub = freshStub([](const http::Request&, int n) {
    if (n > 1) return http::Response::json(200, "{}");
    http::Response r = http::Response::text(429, "slow down\n");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  });
  Call c(ActionType::kHttp);
  c.action.url = stub.url("/x");
  c.action.timeout = seconds(4);
  HttpExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_TRUE(r.done()) << r.detail;
  EXPECT_EQ(r.tries, 2u);
  const auto t = stub.times();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_GE(t[1] - t[0], milliseconds(950));
}

TEST(HttpExecutorTest, RetryAfterPastTheDeadlineStopsAtOnce) {
  Stub& stub = freshStub([](const http::Request&, int) {
    http::Response r = http::Response::text(503, "maintenance\n");
    r.headers.emplace_back("Retry-After", "30");
    return r;
  });
  Call c(ActionType::kHttp);
  c.action.url = stub.url("/x");
  c.action.timeout = seconds(2);
  HttpExecutor executor;
  const auto start = SteadyClock::now();
  const ActionResult r = executor.run(c.call);
  EXPECT_LT(since(start), milliseconds(1000));
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.tries, 1u);
  EXPECT_THAT(r.detail, HasSubstr("Retry-After 30s"));
}

TEST(HttpExecutorTest, UrlPlaceholderArrivesPercentEncodedInOneSegment) {
  const std::string hostile = "a/b?c=d&e#f";
  {
    RawListener raw(true);
    Call c(ActionType::kHttp, hostile);
    c.action.url = "http://127.0.0.1:" + std::to_string(raw.port()) + "/rerun/{pipeline_id}?x=1";
    HttpExecutor executor;
    const ActionResult r = executor.run(c.call);
    EXPECT_TRUE(r.done()) << r.detail;
    EXPECT_THAT(raw.head(), StartsWith("POST /rerun/a%2Fb%3Fc%3Dd%26e%23f?x=1 HTTP/1.1\r\n"));
  }
  // The stub decodes the path: the whole value is there, and the query is only the template's.
  Stub& stub = freshStub([](const http::Request&, int) { return http::Response::json(200, "{}"); });
  Call c(ActionType::kHttp, hostile);
  c.action.url = stub.url("/rerun/{pipeline_id}?x=1");
  HttpExecutor executor;
  EXPECT_TRUE(executor.run(c.call).done());
  const auto reqs = stub.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/rerun/" + hostile);
  EXPECT_EQ(reqs[0].query, "x=1");
}

TEST(HttpExecutorTest, SilentServerTimesOutWithinTheTimeout) {
  RawListener silent(false);  // accepts into the backlog, never answers
  Call c(ActionType::kHttp);
  c.action.url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/x";
  c.action.timeout = seconds(1);
  HttpExecutor executor;
  const auto start = SteadyClock::now();
  const ActionResult r = executor.run(c.call);
  const auto took = since(start);
  EXPECT_FALSE(r.done());
  EXPECT_THAT(r.detail, StartsWith("timed out after 1s"));
  EXPECT_GE(took, milliseconds(900));
  EXPECT_LT(took, milliseconds(1500));
}

TEST(HttpExecutorTest, RefusedConnectionsAreRetriedUntilTheTimeout) {
  Call c(ActionType::kHttp);
  c.action.url = "http://127.0.0.1:" + std::to_string(closedPort()) + "/x";
  c.action.timeout = seconds(1);
  HttpExecutor executor;
  const auto start = SteadyClock::now();
  const ActionResult r = executor.run(c.call);
  EXPECT_LT(since(start), milliseconds(1500));
  EXPECT_FALSE(r.done());
  EXPECT_GE(r.tries, 3u);
  EXPECT_THAT(r.detail, StartsWith("timed out after 1s ("));
}

TEST(HttpExecutorTest, ResponseBodyIsBounded) {
  Stub& stub = freshStub([](const http::Request&, int) {
    return http::Response::text(200, std::string(1 << 20, 'x'));
  });
  const HttpResponse r = postJson(stub.url("/big"), "{}", {}, seconds(5));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.tries, 1u);
  EXPECT_EQ(r.body.size(), HttpResponse::kMaxBodyBytes);
  EXPECT_TRUE(r.body_truncated);
}

TEST(HttpExecutorTest, ConcurrentCallsAreIndependent) {
  Stub& stub =
      freshStub([](const http::Request& req, int) { return http::Response::json(200, req.path); });
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Call c(ActionType::kHttp, "p" + std::to_string(i));
      c.action.url = stub.url("/rerun/{pipeline_id}");
      HttpExecutor executor;
      if (executor.run(c.call).done()) ++done;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 8);
  std::set<std::string> paths;
  for (const auto& req : stub.requests()) paths.insert(req.path);
  EXPECT_EQ(paths.size(), 8u);
}

// ---------------------------------------------------------------------------------------------
// command

TEST(CommandExecutorTest, HostileValuesArriveLiterallyAsOneArgument) {
  const std::string marker = "/tmp/vigil_executor_test_" + std::to_string(::getpid()) + "_pwned";
  std::filesystem::remove(marker);
  const std::string hostile = "$(touch " + marker + "); rm -rf " + marker + "_x `touch " + marker +
                              "` | * \"quoted\" 'single'";
  Call c(ActionType::kCommand, hostile);
  c.action.argv = {"/usr/bin/printf", "[%s]\\n", "{pipeline_id}", "{dataset}", "{pipeline_id}!"};
  CommandExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_TRUE(r.done()) << r.detail;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.detail, "exit status 0");
  EXPECT_EQ(r.output, "[" + hostile + "]\n[orders]\n[" + hostile + "!]\n");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(CommandExecutorTest, EnvironmentIsScrubbed) {
  ::setenv("VIGIL_TEST_SECRET", "do-not-leak", 1);
  Call c(ActionType::kCommand);
  c.call.attempt = 2;
  c.action.argv = {"/usr/bin/env"};
  CommandExecutor executor;
  const ActionResult r = executor.run(c.call);
  ASSERT_TRUE(r.done()) << r.detail;
  std::set<std::string> lines;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  EXPECT_EQ(lines, (std::set<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                          "VIGIL_EVENT_ID=" + c.event.eventId(),
                                          "VIGIL_PIPELINE_ID=etl_orders_01", "VIGIL_DATASET=orders",
                                          "VIGIL_FAILURE_TYPE=latency_spike", "VIGIL_ATTEMPT=2"}));
}

TEST(CommandExecutorTest, OnlyStandardDescriptorsAreInherited) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 3);
  Call c(ActionType::kCommand);
  c.action.argv = {"/bin/ls", "/proc/self/fd"};
  CommandExecutor executor;
  const ActionResult r = executor.run(c.call);
  ::close(leaked);
  ASSERT_TRUE(r.done()) << r.detail;
  // ls holds one descriptor of its own (3) on the directory it lists.
  EXPECT_EQ(r.output, "0\n1\n2\n3\n");
}

TEST(CommandExecutorTest, StdinIsEmptyAndStderrIsCaptured) {
  Call c(ActionType::kCommand);
  c.action.argv = {"/bin/sh", "-c", "cat; echo to-stderr >&2; exit 3"};
  CommandExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.detail, "exit status 3");
  EXPECT_EQ(r.output, "to-stderr\n");
}

TEST(CommandExecutorTest, ProgramWithoutSlashIsSearchedInTheFixedPath) {
  Call c(ActionType::kCommand);
  c.action.argv = {"printf", "%s", "{dataset}"};
  CommandExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_TRUE(r.done()) << r.detail;
  EXPECT_EQ(r.output, "orders");

  c.action.argv = {"vigil-no-such-program"};
  const ActionResult missing = executor.run(c.call);
  EXPECT_FALSE(missing.done());
  EXPECT_THAT(missing.detail, HasSubstr("not found in /usr/local/bin:/usr/bin:/bin"));

  c.action.argv = {"/nonexistent/program"};
  const ActionResult absent = executor.run(c.call);
  EXPECT_FALSE(absent.done());
  EXPECT_THAT(absent.detail, HasSubstr("cannot run /nonexistent/program"));
}

TEST(CommandExecutorTest, OutputIsTruncatedAndTheChildNeverBlocks) {
  Call c(ActionType::kCommand);
  c.action.argv = {"/usr/bin/head", "-c", "1000000", "/dev/zero"};
  CommandExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_TRUE(r.done()) << r.detail;
  EXPECT_LE(r.output.size(), Executor::kMaxOutputBytes);
  EXPECT_GT(r.output.size(), Executor::kMaxOutputBytes - 100);
  EXPECT_TRUE(r.output.ends_with("(truncated)"));
  EXPECT_EQ(r.detail, "exit status 0 (output truncated)");
}

TEST(CommandExecutorTest, TimeoutKillsTheCommand) {
  Call c(ActionType::kCommand);
  c.action.argv = {"/bin/sleep", "30"};
  c.action.timeout = seconds(1);
  CommandExecutor executor;
  const auto start = SteadyClock::now();
  const ActionResult r = executor.run(c.call);
  const auto took = since(start);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.detail, "timed out after 1s");
  EXPECT_GE(took, milliseconds(950));
  EXPECT_LT(took, milliseconds(5000));
}

TEST(CommandExecutorTest, EndlessOutputDoesNotHoldOffTheTimeout) {
  Call c(ActionType::kCommand);
  c.action.argv = {"/usr/bin/yes", "{pipeline_id}"};
  c.action.timeout = milliseconds(300);
  CommandExecutor executor;
  const auto start = SteadyClock::now();
  const ActionResult r = executor.run(c.call);
  EXPECT_LT(since(start), milliseconds(2000));
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.detail, "timed out after 300ms (output truncated)");
  EXPECT_TRUE(r.output.starts_with("etl_orders_01\netl_orders_01\n"));
}

TEST(CommandExecutorTest, TimeoutKillsTheGroupEvenWhenSigtermIsIgnored) {
  const std::string marker = "/tmp/vigil_executor_test_" + std::to_string(::getpid()) + "_survivor";
  std::filesystem::remove(marker);
  Call c(ActionType::kCommand);
  // The shell ignores SIGTERM; its background child would write the marker if it survived.
  c.action.argv = {"/bin/sh", "-c", "trap '' TERM; (sleep 1; touch " + marker + ") & sleep 30"};
  c.action.timeout = milliseconds(300);
  CommandExecutor executor(milliseconds(300));
  const auto start = SteadyClock::now();
  const ActionResult r = executor.run(c.call);
  EXPECT_LT(since(start), milliseconds(1500));
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.detail, "timed out after 300ms");
  std::this_thread::sleep_for(milliseconds(1200));
  EXPECT_FALSE(std::filesystem::exists(marker));
  std::filesystem::remove(marker);
}

TEST(CommandExecutorTest, DeathBySignalIsReported) {
  Call c(ActionType::kCommand);
  c.action.argv = {"/bin/sh", "-c", "kill -9 $$"};
  CommandExecutor executor;
  const ActionResult r = executor.run(c.call);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.detail, "killed by signal 9");
}

TEST(CommandExecutorTest, ConcurrentCommandsKeepTheirOwnOutput) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      Call c(ActionType::kCommand, "p" + std::to_string(i));
      c.action.argv = {"/bin/sh", "-c", "sleep 0.2; printf %s \"$1\"", "sh", "{pipeline_id}"};
      CommandExecutor executor;
      const ActionResult r = executor.run(c.call);
      if (r.done() && r.output == "p" + std::to_string(i)) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
}

// ---------------------------------------------------------------------------------------------
// pagerduty

// Validates a request the way the Events API v2 does (the parts vigil uses) and answers like it.
http::Response pagerDutyLike(const http::Request& req) {
  const auto invalid = [](const std::string& error) {
    return http::Response::json(400, Json{{"status", "invalid event"},
                                          {"message", "Event object is invalid"},
                                          {"errors", Json::array({error})}}
                                         .dump());
  };
  const Json j = Json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid("body is not a JSON object");
  if (!j.contains("routing_key") || !j["routing_key"].is_string() ||
      j["routing_key"].get<std::string>().empty()) {
    return invalid("'routing_key' is missing or blank");
  }
  const std::string action = j.value("event_action", "");
  if (action != "trigger" && action != "resolve") return invalid("'event_action' is invalid");
  const std::string dedup = j.value("dedup_key", "");
  if (dedup.size() > 255) return invalid("'dedup_key' is too long");
  if (action == "resolve" && dedup.empty()) return invalid("'dedup_key' is missing or blank");
  if (action == "trigger") {
    if (!j.contains("payload") || !j["payload"].is_object()) return invalid("'payload' is missing");
    const Json& p = j["payload"];
    for (const char* field : {"summary", "source", "severity"}) {
      if (!p.contains(field) || !p[field].is_string() || p[field].get<std::string>().empty()) {
        return invalid(std::string("'payload.") + field + "' is missing or blank");
      }
    }
    static const std::set<std::string> kSeverities = {"critical", "error", "warning", "info"};
    if (!kSeverities.contains(p["severity"].get<std::string>())) {
      return invalid("'payload.severity' is invalid");
    }
  }
  return http::Response::json(
      202,
      Json{{"status", "success"}, {"message", "Event processed"}, {"dedup_key", dedup}}.dump());
}

struct PagerDutyCall : Call {
  explicit PagerDutyCall(const std::string& url) : Call(ActionType::kPagerDuty) {
    action.url = url;
    action.routing_key = kRoutingKey;
    action.severity = detectors::Severity::kCritical;
    call.dedup_key = "vigil/orders/etl_orders_01/latency_spike";
    call.summary = "latency_spike on orders/etl_orders_01";
    call.report_json = R"({"steps":[]})";
  }
};

TEST(PagerDutyExecutorTest, TriggerThenResolveWithTheSameDedupKey) {
  Stub& stub = freshStub([](const http::Request& req, int) { return pagerDutyLike(req); });
  PagerDutyCall c(stub.url("/v2/enqueue"));
  SendRateLimiter limiter;
  PagerDutyExecutor executor({}, &limiter);
  const ActionResult trigger = executor.run(c.call);
  EXPECT_TRUE(trigger.done()) << trigger.detail;
  EXPECT_EQ(trigger.http_status, 202);
  EXPECT_THAT(trigger.detail, StartsWith("PagerDuty 202 in "));
  c.call.pagerduty_action = ActionCall::PagerDutyAction::kResolve;
  const ActionResult resolve = executor.run(c.call);
  EXPECT_TRUE(resolve.done()) << resolve.detail;

  const auto reqs = stub.requests();
  ASSERT_EQ(reqs.size(), 2u);
  const Json first = Json::parse(reqs[0].body);
  const Json second = Json::parse(reqs[1].body);
  EXPECT_EQ(first["event_action"], "trigger");
  EXPECT_EQ(first["payload"]["severity"], "critical");
  EXPECT_EQ(second["event_action"], "resolve");
  EXPECT_EQ(first["dedup_key"], second["dedup_key"]);
  EXPECT_EQ(first["routing_key"], kRoutingKey);
  EXPECT_EQ(second["routing_key"], kRoutingKey);
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/json");
}

TEST(PagerDutyExecutorTest, InvalidEventFailsWithPagerDutysMessageWithoutRetry) {
  Stub& stub = freshStub([](const http::Request& req, int) { return pagerDutyLike(req); });
  PagerDutyCall c(stub.url("/v2/enqueue"));
  c.call.summary.clear();
  SendRateLimiter limiter;
  PagerDutyExecutor executor({}, &limiter);
  const ActionResult r = executor.run(c.call);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.detail,
            "PagerDuty 400: Event object is invalid: 'payload.summary' is missing or blank");
  EXPECT_EQ(stub.requests().size(), 1u);
}

TEST(PagerDutyExecutorTest, TooManyRequestsIsRetried) {
  Stub& stub = freshStub([](const http::Request& req, int n) {
    return n == 1 ? http::Response::json(429, R"({"status":"throttle event"})")
                  : pagerDutyLike(req);
  });
  PagerDutyCall c(stub.url("/v2/enqueue"));
  SendRateLimiter limiter;
  PagerDutyExecutor executor({}, &limiter);
  const ActionResult r = executor.run(c.call);
  EXPECT_TRUE(r.done()) << r.detail;
  EXPECT_EQ(r.tries, 2u);
  EXPECT_EQ(stub.requests().size(), 2u);
}

TEST(PagerDutyExecutorTest, RateLimitWaitsWhenItFitsAndFailsWhenItDoesNot) {
  Stub& stub = freshStub([](const http::Request& req, int) { return pagerDutyLike(req); });
  PagerDutyCall c(stub.url("/v2/enqueue"));
  c.action.timeout = milliseconds(800);
  // Two events per 500 ms: the third waits about 500 ms, within its timeout.
  SendRateLimiter limiter(2, milliseconds(500));
  PagerDutyExecutor executor({}, &limiter);
  const auto start = SteadyClock::now();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(executor.run(c.call).done()) << i;
  EXPECT_GE(since(start), milliseconds(450));

  // One event per minute: the second does not fit its timeout and fails at once, unsent.
  SendRateLimiter strict(1, seconds(60));
  PagerDutyExecutor strict_executor({}, &strict);
  EXPECT_TRUE(strict_executor.run(c.call).done());
  const auto before = stub.requests().size();
  const auto t0 = SteadyClock::now();
  const ActionResult r = strict_executor.run(c.call);
  EXPECT_LT(since(t0), milliseconds(200));
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.detail, "rate limited (120/min per routing key)");
  EXPECT_EQ(stub.requests().size(), before);
}

TEST(PagerDutyExecutorTest, RoutingKeyNeverAppearsInADetail) {
  // A hostile endpoint that echoes the request back in its error.
  Stub& stub = freshStub([](const http::Request& req, int) {
    return http::Response::json(400, Json{{"message", "bad: " + req.body}}.dump());
  });
  PagerDutyCall c(stub.url("/v2/enqueue"));
  SendRateLimiter limiter;
  PagerDutyExecutor executor({}, &limiter);
  const ActionResult r = executor.run(c.call);
  EXPECT_FALSE(r.done());
  EXPECT_THAT(r.detail, StartsWith("PagerDuty 400: bad: "));
  EXPECT_THAT(r.detail, Not(HasSubstr(kRoutingKey)));
}

}  // namespace
}  // namespace vigil::remediation
