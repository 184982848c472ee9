#include "replica/resp/resp_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "replica/resp/resp_writer.h"

namespace geokv::replica {

std::string RespValue::ToString() const {
  switch (type) {
    case Type::kSimple:
      return str;
    case Type::kError:
      return "(error) " + str;
    case Type::kInteger:
      return "(integer) " + std::to_string(integer);
    case Type::kBulk:
      return "\"" + str + "\"";
    case Type::kNull:
    case Type::kNullArray:
      return "(nil)";
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < elements.size(); ++i) out += (i ? ", " : "") + elements[i].ToString();
      return out + "]";
    }
  }
  return "?";
}

std::string EncodeRequest(const std::vector<std::string>& args) {
  std::string out;
  RespWriter w(&out);
  w.ArrayHeader(args.size());
  for (const auto& a : args) w.Bulk(a);
  return out;
}

RespClient::~RespClient() { Close(); }

RespClient::RespClient(RespClient&& other) noexcept
    : fd_(other.fd_),
      timeout_ms_(other.timeout_ms_),
      max_reply_bytes_(other.max_reply_bytes_),
      buffer_(std::move(other.buffer_)),
      pos_(other.pos_) {
  other.fd_ = -1;
}

void RespClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
  pos_ = 0;
}

Status RespClient::Connect(const std::string& host, uint16_t port, int timeout_ms) {
  Close();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Status::Io("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  Status status = Status::Io("cannot connect to " + host + ":" + service);
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
      int err = 0;
      socklen_t len = sizeof(err);
      if (rc == 0 && (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)) rc = -1;
    }
    if (rc == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      fd_ = fd;
      status = Status::Ok();
      break;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return status;
}

Status RespClient::SendRaw(std::string_view bytes) {
  if (fd_ < 0) return Status::Io("not connected");
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, timeout_ms_) != 1) return Status::Io("send timed out");
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return Status::Io(std::string("send failed: ") + std::strerror(errno));
  }
  return Status::Ok();
}

Status RespClient::Fill() {
  if (fd_ < 0) return Status::Io("not connected");
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return Status::Ok();
    }
    if (n == 0) return Status::Io("connection closed by server");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status::Io(std::string("recv failed: ") + std::strerror(errno));
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms_) != 1) return Status::Io("timed out waiting for a reply");
  }
}

Result<std::string> RespClient::Line() {
  for (;;) {
    const size_t end = buffer_.find("\r\n", pos_);
    if (end != std::string::npos) {
      std::string line = buffer_.substr(pos_, end - pos_);
      pos_ = end + 2;
      return line;
    }
    if (buffer_.size() - pos_ > 64 * 1024) return Status::Corrupt("reply line too long");
    if (Status s = Fill(); !s.ok()) return s;
  }
}

Result<RespValue> RespClient::Parse(int depth) {
  if (depth > 32) return Status::Corrupt("reply nested too deeply");
  auto line = Line();
  if (!line.ok()) return line.status();
  if (line->empty()) return Status::Corrupt("empty reply line");
  RespValue v;
  const std::string body = line->substr(1);
  auto number = [&](int64_t* out) {
    auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), *out);
    return ec == std::errc() && end == body.data() + body.size();
  };
  switch ((*line)[0]) {
    case '+':
      v.type = RespValue::Type::kSimple;
      v.str = body;
      return v;
    case '-':
      v.type = RespValue::Type::kError;
      v.str = body;
      return v;
    case ':':
      v.type = RespValue::Type::kInteger;
      if (!number(&v.integer)) return Status::Corrupt("bad integer reply");
      return v;
    case '$': {
      int64_t n = 0;
      if (!number(&n) || n < -1 || (n >= 0 && static_cast<uint64_t>(n) > max_reply_bytes_)) {
        return Status::Corrupt("bad bulk length in reply line: " + line->substr(0, 40));
      }
      if (n == -1) return v;  // kNull
      while (buffer_.size() - pos_ < static_cast<size_t>(n) + 2) {
        if (Status s = Fill(); !s.ok()) return s;
      }
      v.type = RespValue::Type::kBulk;
      v.str = buffer_.substr(pos_, static_cast<size_t>(n));
      pos_ += static_cast<size_t>(n) + 2;
      return v;
    }
    case '*': {
      int64_t n = 0;
      if (!number(&n) || n < -1 || (n >= 0 && static_cast<uint64_t>(n) > max_reply_bytes_)) {
        return Status::Corrupt("bad array length in reply line: " + line->substr(0, 40));
      }
      if (n == -1) {
        v.type = RespValue::Type::kNullArray;
        return v;
      }
      v.type = RespValue::Type::kArray;
      for (int64_t i = 0; i < n; ++i) {
        auto e = Parse(depth + 1);
        if (!e.ok()) return e.status();
        v.elements.push_back(std::move(*e));
      }
      return v;
    }
    default:
      return Status::Corrupt("unknown reply type byte");
  }
}

Result<RespValue> RespClient::ReadReply() { return Parse(0); }

Result<RespValue> RespClient::Command(const std::vector<std::string>& args) {
  if (Status s = SendRaw(EncodeRequest(args)); !s.ok()) return s;
  return ReadReply();
}

}  // namespace geokv::replica

namespace geokv::replica {

Status WaitUntilServing(const std::string& host, uint16_t port, pid_t pid, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return Status::Io("the process exited");
    RespClient c;
    if (c.Connect(host, port, 200).ok()) {
      auto pong = c.Command({"PING"});
      // NOAUTH: serving, to clients that authenticate (--requirepass).
      if (pong.ok() && (pong->str == "PONG" || pong->str.rfind("NOAUTH", 0) == 0)) {
        return Status::Ok();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Io("no answer on " + host + ":" + std::to_string(port));
}

}  // namespace geokv::replica
