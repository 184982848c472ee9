// Debian's redis-server as a real process, for differential tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <string>

#include "common/subprocess.h"
#include "server_process.h"

namespace geokv::test {

// Debian's redis-server on a free loopback port, killed at the end.
class RedisServer {
 public:
  RedisServer() : port_(FreePort()) {
    auto pid = Spawn({"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind",
                      "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir_.path()},
                     dir_.path() + "/redis.log");
    REQUIRE(pid.ok());
    pid_ = *pid;
    Status s = replica::WaitUntilServing("127.0.0.1", port_, pid_, 10'000);
    INFO("redis-server (Debian's, /usr/bin/redis-server) did not start: " << s.ToString());
    REQUIRE(s.ok());
  }
  ~RedisServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  uint16_t port() const { return port_; }

 private:
  TempDir dir_;
  uint16_t port_;
  pid_t pid_ = 0;
};

}  // namespace geokv::test
