// Runs storage_crash_writer (crash_writer.cc) as a child process with pipes on
// its stdin, stdout and stderr.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace geokv::test {

class ChildProcess {
 public:
  // Starts the helper with `args` (after argv[0]).
  explicit ChildProcess(const std::vector<std::string>& args) {
    int in[2], out[2], err[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    std::vector<std::string> argv_storage = {"storage_crash_writer"};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::execv(GEOKV_CRASH_WRITER, argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    stderr_ = err[0];
  }

  ~ChildProcess() {
    CloseStdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    if (stdout_ >= 0) ::close(stdout_);
    if (stderr_ >= 0) ::close(stderr_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  enum class Read { kData, kTimeout, kEnd };
  // Appends what stdout has within timeout_ms to `*out`.
  Read ReadStdout(std::string* out, int timeout_ms) { return ReadSome(stdout_, out, timeout_ms); }

  // Everything left on stdout / stderr until the child closes it (at most 10 s).
  std::string DrainStdout() { return Drain(stdout_); }
  std::string DrainStderr() { return Drain(stderr_); }

  void CloseStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  void Kill() { ::kill(pid_, SIGKILL); }

  // Waits for the child to end; returns its wait status.
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  static Read ReadSome(int fd, std::string* out, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready == 0) return Read::kTimeout;
    if (ready < 0) return errno == EINTR ? Read::kTimeout : Read::kEnd;
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return Read::kEnd;
    out->append(buf, static_cast<size_t>(n));
    return Read::kData;
  }

  static std::string Drain(int fd) {
    std::string all;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ReadSome(fd, &all, 100) != Read::kEnd) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
    return all;
  }

  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1, stderr_ = -1;
};

}  // namespace geokv::test
