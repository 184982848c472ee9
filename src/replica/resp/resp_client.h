// RespClient: a small blocking Redis-protocol client.
//
// The project's own client, for integration tests, geokv-check and tools: it
// sends requests as RESP multibulk and parses any RESP2 reply. Every read has
// a timeout, and replies are bounded (a broken server cannot make it allocate
// without limit). Not thread-safe: one per thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace geokv::replica {

struct RespValue {
  enum class Type { kSimple, kError, kInteger, kBulk, kNull, kArray, kNullArray };
  Type type = Type::kNull;
  std::string str;  // kSimple, kError, kBulk
  int64_t integer = 0;
  std::vector<RespValue> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  // A readable rendering (as redis-cli prints), for test failures.
  std::string ToString() const;
};

class RespClient {
 public:
  RespClient() = default;
  ~RespClient();
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;
  RespClient(RespClient&& other) noexcept;

  // Connects to host:port (IPv4/IPv6 literal or name) with a timeout.
  Status Connect(const std::string& host, uint16_t port, int timeout_ms = 2000);
  void Close();
  bool connected() const { return fd_ >= 0; }

  // Sends one request and reads its reply.
  Result<RespValue> Command(const std::vector<std::string>& args);
  // Sends raw bytes (hostile-input tests, pipelines).
  Status SendRaw(std::string_view bytes);
  // Reads one reply.
  Result<RespValue> ReadReply();

  void set_timeout_ms(int ms) { timeout_ms_ = ms; }
  // Largest reply accepted (bytes of one bulk, elements of one array).
  void set_max_reply_bytes(size_t n) { max_reply_bytes_ = n; }

 private:
  Status Fill();  // reads more bytes into buffer_
  Result<std::string> Line();
  Result<RespValue> Parse(int depth);

  int fd_ = -1;
  int timeout_ms_ = 5000;
  size_t max_reply_bytes_ = size_t{512} << 20;
  std::string buffer_;
  size_t pos_ = 0;
};

// Waits until a server started as process `pid` answers PING on host:port
// (PONG, or NOAUTH from a server that requires a password).
// Fails if the process exits first or `timeout_ms` passes.
Status WaitUntilServing(const std::string& host, uint16_t port, pid_t pid, int timeout_ms);

// Encodes a request as RESP multibulk.
std::string EncodeRequest(const std::vector<std::string>& args);

}  // namespace geokv::replica
