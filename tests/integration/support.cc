#include "tests/integration/support.h"

#include "stream/topic_reader.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace vigil::testing {

std::string vigilBinary() { return VIGIL_BINARY; }

namespace {

// The body of a `Transfer-Encoding: chunked` response, without its framing.
std::string dechunk(const std::string& framed) {
  std::string body;
  std::size_t at = 0;
  for (;;) {
    const std::size_t eol = framed.find("\r\n", at);
    if (eol == std::string::npos) break;
    const std::size_t size = std::strtoul(framed.c_str() + at, nullptr, 16);
    if (size == 0) break;
    body.append(framed, eol + 2, size);
    at = eol + 2 + size + 2;
  }
  return body;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// Where the children of this test process write their sanitizer reports: one
// folder, made on first use and kept (a report outlives the test it failed).
const std::string& sanitizerLogDir() {
  static const std::string dir = [] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "vigil-sanitizer-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    return pattern;
  }();
  return dir;
}

// `environ` with `options` appended to each sanitizer's options variable (the
// last value of a flag wins), as NAME=VALUE strings.
std::vector<std::string> childEnvironment(const std::string& options) {
  static constexpr const char* kVariables[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                                               "TSAN_OPTIONS"};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const char* name : kVariables) {
    const std::string prefix = std::string(name) + "=";
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& v) { return v.rfind(prefix, 0) == 0; });
    if (it == env.end()) {
      env.push_back(prefix + options);
    } else {
      *it += ":" + options;
    }
  }
  return env;
}

}  // namespace

Process::Process(const std::vector<std::string>& args, const ProcessOptions& options) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> env;
  if (kSanitized) {
    static std::atomic<int> children{0};
    sanitizer_log_ = sanitizerLogDir() + "/child" + std::to_string(++children);
    std::string flags = "log_path=" + sanitizer_log_;
    if (options.crashed_by_test) flags += ":handle_segv=0:handle_sigbus=0:handle_abort=0";
    env_strings = childEnvironment(flags);
    for (auto& e : env_strings) env.push_back(e.data());
    env.push_back(nullptr);
  }
  if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(),
                  kSanitized ? env.data() : environ) != 0) {
    throw std::runtime_error("cannot spawn " + args[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_ = out_pipe[0];
  err_ = err_pipe[0];
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (pid_ > 0) checkSanitizerReports();
  if (out_ >= 0) close(out_);
  if (err_ >= 0) close(err_);
}

// The child has ended: its report file (log_path.PID), if any, is a finding.
void Process::checkSanitizerReports() {
  if (sanitizer_log_.empty() || reports_checked_) return;
  reports_checked_ = true;
  const std::string file = sanitizer_log_ + "." + std::to_string(pid_);
  std::ifstream in(file);
  if (!in) return;
  std::ostringstream report;
  report << in.rdbuf();
  ADD_FAILURE() << "sanitizer report of a child process (" << file << "):\n" << report.str();
}

std::optional<std::string> Process::readLineFrom(int fd, std::string& buffer,
                                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer.find('\n'); nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<std::string> Process::readLine(std::chrono::milliseconds timeout) {
  return readLineFrom(out_, out_buffer_, timeout);
}

std::optional<std::string> Process::readErrLine(std::chrono::milliseconds timeout) {
  return readLineFrom(err_, err_buffer_, timeout);
}

std::optional<std::string> Process::waitForErr(const std::string& needle,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto line = readErrLine(left);
    if (!line) return std::nullopt;
    if (line->find(needle) != std::string::npos) return line;
  }
  return std::nullopt;
}

std::string Process::drain(int fd, std::string& buffer) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    buffer.append(buf, static_cast<std::size_t>(n));
  }
  std::string out;
  out.swap(buffer);
  return out;
}

std::string Process::drainOut() { return drain(out_, out_buffer_); }
std::string Process::drainErr() { return drain(err_, err_buffer_); }

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      checkSanitizerReports();
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    // Keep the pipes from filling up while the child writes its last lines.
    drain(out_, out_buffer_).swap(out_buffer_);
    drain(err_, err_buffer_).swap(err_buffer_);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int Process::kill() {
  if (status_) return *status_;
  ::kill(pid_, SIGKILL);
  return wait(std::chrono::seconds(10)).value_or(-SIGKILL);
}

int Process::terminate(std::chrono::milliseconds timeout) { return signal(SIGTERM, timeout); }

int Process::signal(int signal_number, std::chrono::milliseconds timeout) {
  if (status_) return *status_;
  ::kill(pid_, signal_number);
  if (auto code = wait(timeout)) return *code;
  ::kill(pid_, SIGKILL);
  return wait(std::chrono::seconds(10)).value_or(-SIGKILL);
}

RunResult run(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  Process p(args);
  RunResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<int> code;
  while (!code && std::chrono::steady_clock::now() < deadline) {
    code = p.wait(std::chrono::milliseconds(50));
    r.out += p.drainOut();
    r.err += p.drainErr();
  }
  r.out += p.drainOut();
  r.err += p.drainErr();
  r.exit_code = code.value_or(p.terminate());
  return r;
}

HttpResult httpGet(int port, const std::string& path) { return httpRequest(port, "GET", path); }

HttpResult httpRequest(int port, const std::string& method, const std::string& path,
                       const std::vector<std::string>& headers, const std::string& body) {
  HttpResult result;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return result;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return result;
  }
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const std::string& h : headers) request += h + "\r\n";
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return result;
  }
  std::string response;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  if (response.rfind("HTTP/1.1 ", 0) != 0) return result;
  result.status = std::atoi(response.c_str() + 9);
  if (const auto at = response.find("\r\n\r\n"); at != std::string::npos) {
    result.body = response.substr(at + 4);
    const std::string head = response.substr(0, at);
    for (std::size_t start = head.find("\r\n"); start != std::string::npos;) {
      start += 2;
      const std::size_t end = head.find("\r\n", start);
      const std::string line = head.substr(start, end == std::string::npos ? end : end - start);
      if (const auto colon = line.find(':'); colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        const std::size_t value = line.find_first_not_of(' ', colon + 1);
        result.headers[name] = value == std::string::npos ? "" : line.substr(value);
      }
      start = end;
    }
    const auto encoding = result.headers.find("transfer-encoding");
    if (encoding != result.headers.end() && encoding->second == "chunked") {
      result.body = dechunk(result.body);
    }
  }
  return result;
}

int freePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

Server startServer(const std::function<std::vector<std::string>(int port)>& args,
                   const std::string& ready_path, std::chrono::milliseconds timeout) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    Server server;
    server.port = freePort();
    server.process = std::make_unique<Process>(args(server.port));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (httpGet(server.port, ready_path).status == 200) return server;
      if (server.process->wait(std::chrono::milliseconds(100))) break;  // exited: port taken
    }
    if (std::chrono::steady_clock::now() >= deadline) return {};
  }
  return {};
}

std::string findProgram(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(start, end - start) + "/" + program;
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

std::string urlEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<double> sampleValue(const std::string& exposition, const std::string& series) {
  for (const std::string& line : lines(exposition)) {
    if (line.size() > series.size() && line.rfind(series, 0) == 0 && line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

Broker::Broker(const std::vector<std::string>& topics) : Broker(BrokerOptions{topics}) {}

Broker::Broker(const BrokerOptions& options) {
  std::vector<std::string> args = {vigilBinary(), "broker"};
  for (const auto& t : options.topics) args.insert(args.end(), {"--topic", t});
  if (options.brokers != 1) {
    args.insert(args.end(), {"--brokers", std::to_string(options.brokers)});
  }
  if (options.control) args.insert(args.end(), {"--control", "127.0.0.1:0"});
  process_ = std::make_unique<Process>(args);
  const auto line = process_->readLine(std::chrono::seconds(20));
  const std::string prefix = "bootstrap.servers=";
  if (line && line->rfind(prefix, 0) == 0) bootstrap_ = line->substr(prefix.size());
  if (options.control && !bootstrap_.empty()) {
    const auto control = process_->readLine(std::chrono::seconds(20));
    const std::string host = "control=127.0.0.1:";
    if (control && control->rfind(host, 0) == 0) {
      control_port_ = std::atoi(control->c_str() + host.size());
    }
  }
}

HttpResult Broker::control(const std::string& method, const std::string& target,
                           const std::string& body) const {
  return httpRequest(control_port_, method, target, {}, body);
}

std::vector<std::string> readTopic(const std::string& bootstrap, const std::string& topic,
                                   const std::function<bool(const std::vector<std::string>&)>& enough,
                                   std::chrono::milliseconds timeout) {
  std::vector<std::string> values;
  std::string error;
  auto reader = stream::TopicReader::create({{"bootstrap.servers", bootstrap}}, topic, error);
  if (!reader) return values;
  std::vector<stream::TopicReader::Item> items;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!enough(values) && std::chrono::steady_clock::now() < deadline) {
    items.clear();
    reader->poll(items, std::chrono::milliseconds(500));
    for (auto& item : items) values.push_back(std::move(item.value));
  }
  return values;
}

std::map<int, Committed> committed(const std::string& bootstrap, const std::string& group,
                                  const std::string& topic, int partitions) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", bootstrap, error);
  conf->set("group.id", group, error);
  conf->set("log_level", "0", error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  std::map<int, Committed> out;
  if (!consumer) return out;
  // The C API: the 2.0 C++ TopicPartition does not carry commit metadata.
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  if (rd_kafka_committed(consumer->c_ptr(), list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = list->elems[i];
      out[tp.partition] = Committed{
          tp.offset < 0 ? -1 : tp.offset,
          std::string(static_cast<const char*>(tp.metadata), tp.metadata ? tp.metadata_size : 0)};
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  consumer->close();
  return out;
}

std::map<int, std::int64_t> committedOffsets(const std::string& bootstrap, const std::string& group,
                                             const std::string& topic, int partitions) {
  std::map<int, std::int64_t> out;
  for (const auto& [p, c] : committed(bootstrap, group, topic, partitions)) out[p] = c.offset;
  return out;
}

std::vector<std::string> distinctJudgedEvents(const std::vector<std::string>& events,
                                              const std::string& last) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& e : events) {
    const auto j = nlohmann::json::parse(e, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("failure_type") || !j.contains("timestamp")) {
      out.push_back(e);  // not an event at all: left in, so a comparison shows it
      continue;
    }
    if (j["failure_type"] != "stale_data" && j["timestamp"].get<std::string>() <= last &&
        seen.insert(e).second) {
      out.push_back(e);
    }
  }
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    out.push_back(text.substr(start, nl - start));
  }
  return out;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vigil-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& content) const {
  std::ofstream(file(name), std::ios::trunc) << content;
}

}  // namespace vigil::testing
