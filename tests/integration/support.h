#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil::testing {

struct ProcessOptions {
  // The test crashes the process itself (signal(SIGSEGV)): under a sanitizer it
  // is told to leave deadly signals alone, so it dies of them as it would in
  // production rather than reporting them.
  bool crashed_by_test = false;
};

// A child process running the vigil binary of the build (or any program) with
// its stdout and stderr captured on pipes. Killed (SIGKILL) on destruction if
// still running. In a sanitizer build the child writes its sanitizer reports
// to a file of its own instead of stderr; once it has ended, a report there
// fails the current test (with the report), however the child ended and
// whether or not the test looks at its exit code.
class Process {
 public:
  explicit Process(const std::vector<std::string>& args, const ProcessOptions& options = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The next complete line of stdout (or stderr), waiting at most `timeout`.
  std::optional<std::string> readLine(std::chrono::milliseconds timeout);
  std::optional<std::string> readErrLine(std::chrono::milliseconds timeout);
  // Reads stderr lines until one contains `needle`; returns that line.
  std::optional<std::string> waitForErr(const std::string& needle, std::chrono::milliseconds timeout);

  // Sends SIGKILL and waits; returns -SIGKILL (or the exit code if it had exited).
  int kill();
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits; returns the exit code (-signal when killed).
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Sends `signal_number` (SIGABRT, SIGSEGV: a crash) and waits as terminate() does.
  int signal(int signal_number, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for a normal exit; returns the exit code, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // Everything read or readable from stdout / stderr so far (drains the pipes).
  std::string drainOut();
  std::string drainErr();

 private:
  std::optional<std::string> readLineFrom(int fd, std::string& buffer,
                                          std::chrono::milliseconds timeout);
  std::string drain(int fd, std::string& buffer);
  void checkSanitizerReports();

  pid_t pid_ = -1;
  std::string sanitizer_log_;  // log_path given to the child; empty when not sanitized
  bool reports_checked_ = false;
  int out_ = -1;
  int err_ = -1;
  std::string out_buffer_;
  std::string err_buffer_;
  std::optional<int> status_;
};

// Runs a command to completion; returns (exit code, stdout, stderr).
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
RunResult run(const std::vector<std::string>& args,
              std::chrono::milliseconds timeout = std::chrono::seconds(120));

// A plain HTTP/1.1 GET on loopback; returns (status, body) or status 0 on failure.
struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
};
HttpResult httpGet(int port, const std::string& path);
// Any method, with extra header lines ("Name: value") and a body.
HttpResult httpRequest(int port, const std::string& method, const std::string& path,
                       const std::vector<std::string>& headers = {}, const std::string& body = "");

// The value of one sample in a Prometheus text exposition, `series` written
// as exposed (`name` or `name{label="value",...}`); nullopt when absent.
std::optional<double> sampleValue(const std::string& exposition, const std::string& series);

// A TCP port on 127.0.0.1 that was free a moment ago, for programs that
// cannot bind port 0 and report it (prometheus, alertmanager).
int freePort();

// A server that takes its port on the command line (`args(port)`), started on
// a port that was free a moment ago and ready once GET `ready_path` answers
// 200. A test running beside this one may take the port in between: the
// server then exits, and is started again on another (up to 5 times).
// `process` is null if it never became ready within `timeout` a try.
struct Server {
  std::unique_ptr<Process> process;
  int port = 0;
};
Server startServer(const std::function<std::vector<std::string>(int port)>& args,
                   const std::string& ready_path,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The full path of `program` found on PATH; empty when it is not installed.
std::string findProgram(const std::string& program);

// `text` percent-encoded for a URL query value.
std::string urlEncode(const std::string& text);

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// The complete lines of `text` (NDJSON output, say), without their newlines.
std::vector<std::string> lines(const std::string& text);

// What `group` committed for partitions 0..partitions-1 of `topic` (an offset
// fetch, no join): the offset (-1 for none) and its metadata. Empty if the
// fetch failed.
struct Committed {
  std::int64_t offset = -1;
  std::string metadata;
};
std::map<int, Committed> committed(const std::string& bootstrap, const std::string& group,
                                  const std::string& topic, int partitions);
// The offsets alone.
std::map<int, std::int64_t> committedOffsets(const std::string& bootstrap, const std::string& group,
                                             const std::string& topic, int partitions);

// The distinct events judged on windows (not stale_data, which detect judges
// on the clock) with a timestamp up to `last` (RFC 3339), in order of first
// appearance: what `detect` and `replay` must agree on.
std::vector<std::string> distinctJudgedEvents(const std::vector<std::string>& events,
                                              const std::string& last);

// Path of the vigil binary under test.
std::string vigilBinary();

// `vigil broker --topic T...` running for the lifetime of the object; with
// `control`, also its fault-injection channel (--control 127.0.0.1:0).
struct BrokerOptions {
  std::vector<std::string> topics;
  int brokers = 1;
  bool control = false;
};
class Broker {
 public:
  explicit Broker(const std::vector<std::string>& topics);
  explicit Broker(const BrokerOptions& options);
  // "HOST:PORT"; empty if the broker did not start.
  const std::string& bootstrap() const { return bootstrap_; }
  // The control channel's port; 0 without one.
  int controlPort() const { return control_port_; }
  // A request to the control channel, e.g. control("POST", "/brokers/1/down").
  HttpResult control(const std::string& method, const std::string& target,
                     const std::string& body = "") const;
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  std::string bootstrap_;
  int control_port_ = 0;
};

// The values of `topic` read from its beginning, polling until
// `enough(values)` holds or `timeout` passes.
std::vector<std::string> readTopic(const std::string& bootstrap, const std::string& topic,
                                   const std::function<bool(const std::vector<std::string>&)>& enough,
                                   std::chrono::milliseconds timeout);

}  // namespace vigil::testing
