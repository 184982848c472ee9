// ReserveLoopbackPort: a TCP port on 127.0.0.1 for a server this process is
// about to start (the tests' clusters, geokv-check's spare nodes).
//
// Below the kernel's ephemeral range (32768+ by default), where outgoing
// connections take their local ports, at a random place, bound once to check
// that it is free. Free now is not enough: a test that kills a node and starts
// it again leaves its ports free for seconds, and another process running at
// the same time took one (seen as "Address already in use" in CI and in a
// campaign). So a port handed out is also reserved: an flock on
// <tmp>/geokv-test-ports/<port>, which the kernel drops when the process
// ends, and which every caller of this function skips.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "common/prng.h"

namespace geokv {

struct LoopbackPort {
  uint16_t port = 0;  // 0: none found
  // The reservation's lock file, open and locked: keep it open as long as
  // the port is in use (close it to release). -1 where the lock directory
  // cannot be used (then only the bind check was made).
  int lock_fd = -1;
};

// At most `attempts_max` random ports tried.
inline LoopbackPort ReserveLoopbackPort(Prng& rng, int attempts_max) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "geokv-test-ports";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (int attempt = 0; attempt < attempts_max; ++attempt) {
    const uint16_t port = static_cast<uint16_t>(20000 + rng.Below(12000));
    const std::string lock_path = (dir / std::to_string(port)).string();
    const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd >= 0 && ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd);  // reserved by another process (or by this one)
      continue;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool free = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (fd >= 0) ::close(fd);
    if (!free) {
      if (lock_fd >= 0) ::close(lock_fd);
      continue;
    }
    return LoopbackPort{port, lock_fd};
  }
  return LoopbackPort{};
}

}  // namespace geokv
