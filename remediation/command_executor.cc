#include "remediation/command_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "common/log.h"
#include "detectors/failure_event.h"
#include "remediation/placeholders.h"

namespace vigil::remediation {
namespace {

using SteadyClock = std::chrono::steady_clock;
using detectors::Duration;
using std::chrono::duration_cast;

constexpr std::string_view kComponent = "remediate";
constexpr std::string_view kTruncatedMark = "\n(truncated)";
// Without a pidfd, how often a running child is checked for having exited.
constexpr Duration kWaitSlice{20};

// Owns one file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Collects the child's output: the first kMaxOutputBytes, and a count of the rest.
struct Output {
  std::string bytes;
  bool truncated = false;

  enum class Read { kDrained, kMore, kClosed };

  // Reads what the pipe has now, at most 256 KiB so a chatty child cannot keep the caller from
  // its deadlines: kDrained when the pipe is empty, kMore when there may be more, kClosed at end
  // of file (or an error).
  Read readFrom(int fd) {
    char buf[16384];
    for (int i = 0; i < 16; ++i) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        const auto len = static_cast<std::size_t>(n);
        const std::size_t room =
            Executor::kMaxOutputBytes - std::min(bytes.size(), Executor::kMaxOutputBytes);
        bytes.append(buf, std::min(len, room));
        if (len > room) truncated = true;  // read on and drop, so the child never blocks
        continue;
      }
      if (n == 0) return Read::kClosed;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? Read::kDrained : Read::kClosed;
    }
    return Read::kMore;
  }

  // Valid UTF-8 of at most kMaxOutputBytes, marked when something was left out.
  std::string text() const {
    std::string clean = sanitizeUtf8(bytes);
    if (!truncated && clean.size() <= Executor::kMaxOutputBytes) return clean;
    std::string out(utf8Prefix(clean, Executor::kMaxOutputBytes - kTruncatedMark.size()));
    out += kTruncatedMark;
    return out;
  }
};

int openPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  return fd >= 0 ? static_cast<int>(fd) : -1;
#else
  (void)pid;
  return -1;
#endif
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn attributes and file actions, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// Spawns `program` with its output on `out_write`; returns 0 or an errno value.
int spawn(const std::string& program, std::vector<std::string>& argv, std::vector<std::string>& env,
          int out_write, pid_t& pid) {
  SpawnSetup s;
  int rc = posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&s.actions, out_write, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&s.actions, out_write, 2);
  // Sockets, Kafka connections and files of the worker are none of the command's business,
  // whether or not their owners set O_CLOEXEC.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);
  // Its own process group, so a timeout reaches whatever it started; an empty signal mask and
  // default dispositions, so the worker's blocked or ignored signals (SIGPIPE) do not leak in.
  sigset_t empty;
  sigset_t all;
  sigemptyset(&empty);
  sigfillset(&all);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&s.attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&s.attr, &empty);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&s.attr, &all);
  if (rc == 0) {
    rc = posix_spawnattr_setflags(
        &s.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  if (rc != 0) return rc;
  std::vector<char*> c_argv = cStrings(argv);
  std::vector<char*> c_env = cStrings(env);
  return posix_spawn(&pid, program.c_str(), &s.actions, &s.attr, c_argv.data(), c_env.data());
}

// Kills and reaps a spawned child that the executor leaves without having waited for it (an
// exception, an error of waitpid), so no zombie or orphaned group outlives the call.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  void reaped() { pid_ = -1; }

 private:
  pid_t pid_;
};

bool holdsNul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

std::optional<std::string> resolveProgram(const std::string& program) {
  if (program.empty()) return std::nullopt;
  if (program.find('/') != std::string::npos) return program;
  std::string_view dirs = kCommandPath;
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    const std::string candidate = std::string(dir) + "/" + program;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

std::vector<std::string> commandEnvironment(const ActionCall& call) {
  std::vector<std::string> env = {std::string("PATH=") + kCommandPath, "LANG=C.UTF-8"};
  const detectors::FailureEvent* e = call.event;
  env.push_back("VIGIL_EVENT_ID=" + (e ? e->eventId() : std::string()));
  env.push_back("VIGIL_PIPELINE_ID=" + (e ? e->pipeline_id : std::string()));
  env.push_back("VIGIL_DATASET=" + (e ? e->dataset : std::string()));
  env.push_back("VIGIL_FAILURE_TYPE=" +
                (e ? std::string(detectors::failureTypeName(e->failure_type)) : std::string()));
  env.push_back("VIGIL_ATTEMPT=" + std::to_string(call.attempt));
  return env;
}

ActionResult CommandExecutor::run(const ActionCall& call) {
  ActionResult result;
  try {
    if (call.action == nullptr || call.action->argv.empty() || call.action->argv[0].empty()) {
      result.detail = "internal error: no program to run";
      return result;
    }
    const ActionSpec& action = *call.action;
    std::vector<std::string> argv = expandArgv(action.argv, call);
    for (std::size_t i = 0; i < argv.size(); ++i) {
      // A NUL would silently cut the argument short: refuse rather than run something else.
      if (holdsNul(argv[i])) {
        result.detail = "argument " + std::to_string(i) + " holds a NUL byte after expansion";
        return result;
      }
    }
    std::vector<std::string> env = commandEnvironment(call);
    if (std::any_of(env.begin(), env.end(), holdsNul)) {
      result.detail = "an environment value holds a NUL byte";
      return result;
    }
    const std::optional<std::string> program = resolveProgram(argv[0]);
    if (!program) {
      result.detail = "program " + sanitizeUtf8(argv[0]) + " not found in " + kCommandPath;
      return result;
    }

    int fds[2];
    // O_CLOEXEC: a command spawned by another thread at the same moment must not inherit our
    // write end, or our reader would wait for that stranger to exit.
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      result.detail = std::string("cannot create a pipe: ") + std::strerror(errno);
      return result;
    }
    Fd read_end(fds[0]);
    Fd write_end(fds[1]);
    ::fcntl(read_end.get(), F_SETFL, ::fcntl(read_end.get(), F_GETFL) | O_NONBLOCK);

    const SteadyClock::time_point start = SteadyClock::now();
    pid_t pid = -1;
    result.tries = 1;
    if (const int rc = spawn(*program, argv, env, write_end.get(), pid); rc != 0) {
      result.detail = "cannot run " + sanitizeUtf8(*program) + ": " + std::strerror(rc);
      return result;
    }
    ChildGuard guard(pid);
    write_end.reset();  // the child's copies are the only writers now
    Fd pidfd(openPidfd(pid));

    const SteadyClock::time_point deadline = start + action.timeout;
    SteadyClock::time_point kill_at{};
    bool term_sent = false;
    bool kill_sent = false;
    bool pipe_open = true;
    int wstatus = 0;
    Output output;
    for (;;) {
      const pid_t r = ::waitpid(pid, &wstatus, WNOHANG);
      if (r == pid) {
        guard.reaped();
        break;
      }
      if (r < 0 && errno != EINTR) {
        result.detail = std::string("cannot wait for the command: ") + std::strerror(errno);
        return result;
      }
      const SteadyClock::time_point now = SteadyClock::now();
      if (!term_sent && now >= deadline) {
        ::kill(-pid, SIGTERM);
        term_sent = true;
        kill_at = now + kill_grace_;
      } else if (term_sent && !kill_sent && now >= kill_at) {
        ::kill(-pid, SIGKILL);
        kill_sent = true;
      }
      // Sleep until output arrives, the child exits (pidfd), or the next deadline.
      Duration wait =
          kill_sent ? kWaitSlice : duration_cast<Duration>((term_sent ? kill_at : deadline) - now);
      if (pidfd.get() < 0) wait = std::min(wait, kWaitSlice);
      wait = std::max(wait, Duration{1});
      pollfd pfds[2];
      nfds_t n = 0;
      if (pipe_open) pfds[n++] = pollfd{read_end.get(), POLLIN, 0};
      if (pidfd.get() >= 0) pfds[n++] = pollfd{pidfd.get(), POLLIN, 0};
      const int ready = ::poll(pfds, n, static_cast<int>(std::min<long long>(wait.count(), 60000)));
      if (ready > 0 && pipe_open && pfds[0].revents != 0) {
        if (output.readFrom(read_end.get()) == Output::Read::kClosed) {
          pipe_open = false;  // the command closed its output; it may still run
          read_end.reset();
        }
      }
    }
    // The child is gone; take what it left in the pipe (at most the pipe's buffer), but do not
    // wait for a background process it started that still holds the pipe open, nor let one that
    // keeps writing hold the call: the loop is bounded.
    for (int i = 0; pipe_open && i < 8; ++i) {
      if (output.readFrom(read_end.get()) != Output::Read::kMore) break;
    }
    if (term_sent) ::kill(-pid, SIGKILL);  // stragglers of a timed-out command's group

    const Duration took = duration_cast<Duration>(SteadyClock::now() - start);
    result.output = output.text();
    if (WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
    if (term_sent) {
      result.detail = "timed out after " + formatDuration(action.timeout);
    } else if (WIFEXITED(wstatus)) {
      result.detail = "exit status " + std::to_string(result.exit_code);
      if (result.exit_code == 0) result.status = ActionResult::Status::kDone;
    } else if (WIFSIGNALED(wstatus)) {
      result.detail = "killed by signal " + std::to_string(WTERMSIG(wstatus));
    } else {
      result.detail = "ended with wait status " + std::to_string(wstatus);
    }
    if (output.truncated) result.detail += " (output truncated)";
    VIGIL_LOG(kDebug, kComponent) << "action " << action.name << " attempt " << call.attempt << ": "
                                  << result.detail << " in " << formatDuration(took);
  } catch (const std::exception& e) {
    result.status = ActionResult::Status::kFailed;
    result.detail = std::string("internal error: ") + e.what();
  }
  return result;
}

}  // namespace vigil::remediation
