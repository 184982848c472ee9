#include "replica/transport/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace geokv::replica {

namespace {

// A key file holds 40 characters and a newline; anything much longer is not
// a key file (and is not read whole).
constexpr size_t kKeyFileBytesMax = 1024;

std::string Trimmed(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

}  // namespace

Result<CurveKeyPair> GenerateCurveKeyPair() {
  if (!zmq_has("curve")) return Status::Unsupported("this libzmq was built without CURVE");
  char public_key[kCurveKeyZ85Chars + 1];
  char secret_key[kCurveKeyZ85Chars + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return Status::Io(std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_key, secret_key};
}

Result<CurveKeyPair> LoadCurveSecretFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Io(path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Io(path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Invalid(path + ": mode " + mode +
                           " lets others read the secret key; chmod 600 " + path);
  }
  std::string text(kKeyFileBytesMax, '\0');
  const ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n < 0) return Status::Io(path + ": " + std::strerror(errno));
  text.resize(static_cast<size_t>(n));
  text = Trimmed(std::move(text));
  uint8_t secret[32];
  if (text.size() != kCurveKeyZ85Chars || zmq_z85_decode(secret, text.c_str()) == nullptr) {
    return Status::Invalid(path +
                           ": does not hold a CURVE secret key (40 Z85 characters, as "
                           "geokv-keygen writes)");
  }
  char public_key[kCurveKeyZ85Chars + 1];
  if (zmq_curve_public(public_key, text.c_str()) != 0) {
    return Status::Unsupported(std::string("zmq_curve_public: ") + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_key, text};
}

Status WriteCurveSecretFile(const std::string& path, const std::string& secret_key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io(path + ": " + std::strerror(errno));
  const std::string line = secret_key + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) return Status::Io(path + ": write failed");
  return Status::Ok();
}

}  // namespace geokv::replica
