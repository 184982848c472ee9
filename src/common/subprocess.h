// Spawn: starts a program as a child process, for the tools and tests that run
// geokv-server processes.
//
// The child gets nothing of the parent's but its output: standard output and
// error go to `log_path` (appended), and every other inherited descriptor is
// closed before exec. An inherited socket (a proxy's connection, a client's)
// would otherwise keep connections half-open after the parent closed them.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/status.h"

namespace geokv {

// Starts argv[0] with argv. Returns the child's pid (the caller waits for it).
inline Result<pid_t> Spawn(std::vector<std::string> argv, const std::string& log_path) {
  const pid_t pid = ::fork();
  if (pid < 0) return Status::Io("fork failed");
  if (pid > 0) return pid;
  ::close_range(3, ~0U, 0);
  std::FILE* out = std::fopen(log_path.c_str(), "a");
  if (out != nullptr) {
    ::dup2(::fileno(out), 1);
    ::dup2(::fileno(out), 2);
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::_Exit(127);
}

}  // namespace geokv
