#include "replica/commands/access_control.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "common/assert.h"
#include "replica/commands/errors.h"

namespace geokv::replica {

namespace {

std::vector<std::string> SplitWords(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

Status NoAclFile() {
  return Status::Invalid(
      "This Redis instance is not configured to use an ACL file. You may want to specify users "
      "via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis "
      "configuration file set) in order to store users in the Redis configuration.");
}

}  // namespace

bool ValidUserName(std::string_view name) {
  if (name.empty() || name.size() > 256 || name == AccessControl::kPeerUser) return false;
  for (char c : name) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  }
  return true;
}

AclUser AccessControl::DefaultUser() {
  AclUser user("default");
  for (const char* rule : {"on", "nopass", "~*", "&*", "+@all"}) {
    const Status s = user.ApplyRule(rule);
    GEOKV_ASSERT(s.ok());
  }
  return user;
}

AccessControl::AccessControl() { users_.emplace("default", DefaultUser()); }

void AccessControl::SetRequirePass(std::string_view password) {
  requirepass_ = std::string(password);
  AclUser& user = users_.at("default");
  Status s = user.ApplyRule("resetpass");
  if (!password.empty()) s = user.ApplyRule(">" + requirepass_);
  if (password.empty()) s = user.ApplyRule("nopass");
  GEOKV_ASSERT(s.ok());
}

void AccessControl::SetPeerSecret(std::string_view secret) {
  GEOKV_ASSERT(!secret.empty());
  peer_hash_ = Sha256Hex(secret);
}

bool AccessControl::AuthConfigured() const { return !aclfile_.empty() || !DefaultIsNopass(); }

bool AccessControl::DefaultIsNopass() const {
  const AclUser& user = users_.at("default");
  return user.nopass && user.enabled;
}

Result<AccessControl::Users> AccessControl::ParseAclFile(std::string_view text,
                                                         const std::string& source) {
  Users users;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::vector<std::string> words = SplitWords(line);
    if (words.empty()) continue;
    const std::string where = source + ":" + std::to_string(line_number);
    auto fail = [&](const std::string& why) { return Status::Invalid(where + ": " + why); };
    if (words[0] != "user" || words.size() < 2) {
      return Status::Invalid(where + " should start with user keyword followed by the username");
    }
    const std::string& name = words[1];
    if (!ValidUserName(name)) {
      return fail("invalid user name '" + name.substr(0, 64) + "'" +
                  (name == kPeerUser ? " (reserved for geokv's nodes)" : ""));
    }
    if (users.count(name) != 0) return fail("Duplicate user '" + name + "' found");
    if (users.size() >= kUsersMax) return fail("too many users");
    AclUser user(name);
    for (size_t i = 2; i < words.size(); ++i) {
      if (Status s = user.ApplyRule(words[i]); !s.ok()) {
        return fail(s.message());
      }
    }
    users.emplace(name, std::move(user));
  }
  // As Redis: a file that does not declare the default user gets Redis's.
  if (users.count("default") == 0) users.emplace("default", DefaultUser());
  return users;
}

Status AccessControl::UseAclFile(const std::string& path) {
  const std::string previous = std::exchange(aclfile_, path);
  Status s = Load();
  if (!s.ok()) aclfile_ = previous;
  return s;
}

Status AccessControl::Load() {
  if (aclfile_.empty()) return NoAclFile();
  std::ifstream in(aclfile_, std::ios::binary);
  if (!in)
    return Status::Io("Error loading ACLs, opening file '" + aclfile_ + "': " + strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<uint64_t>(size) > kAclFileBytesMax) {
    return Status::Invalid(aclfile_ + ": not a readable file of at most 16 MiB");
  }
  in.seekg(0);
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), size);
  if (in.gcount() != size) return Status::Io("Error loading ACLs, reading file '" + aclfile_ + "'");
  auto users = ParseAclFile(text, aclfile_);
  if (!users.ok()) return users.status();
  users_ = std::move(*users);
  return Status::Ok();
}

Status AccessControl::Save() const {
  if (aclfile_.empty()) return NoAclFile();
  std::string text;
  for (const auto& [name, user] : users_) text += "user " + name + " " + user.Describe() + "\n";
  const std::string temp = aclfile_ + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io("cannot write " + temp + ": " + strerror(errno));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const bool ok = written == text.size() && ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), aclfile_.c_str()) != 0) {
    const std::string why = strerror(ok ? errno : saved_errno);
    ::unlink(temp.c_str());
    return Status::Io("cannot write " + aclfile_ + ": " + why);
  }
  return Status::Ok();
}

Status AccessControl::SetUser(std::string_view name, const std::vector<std::string>& rules) {
  if (!ValidUserName(name)) {
    return Status::Invalid(
        name == kPeerUser ? "ERR the user '" + std::string(kPeerUser) +
                                "' is reserved for geokv's nodes (--cluster-secret-file)"
                          : std::string("ERR Usernames can't contain spaces or null characters"));
  }
  auto it = users_.find(name);
  if (it == users_.end() && users_.size() >= kUsersMax)
    return Status::Invalid("ERR too many users");
  AclUser user = it != users_.end() ? it->second : AclUser(std::string(name));
  for (const std::string& rule : rules) {
    if (Status s = user.ApplyRule(rule); !s.ok()) {
      return Status::Invalid("ERR Error in ACL SETUSER modifier '" + rule.substr(0, 128) +
                             "': " + s.message());
    }
  }
  users_.insert_or_assign(std::string(name), std::move(user));
  return Status::Ok();
}

Result<int64_t> AccessControl::DelUsers(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (name == "default") return Status::Invalid("ERR The 'default' user cannot be removed");
  }
  int64_t removed = 0;
  for (const std::string& name : names) removed += static_cast<int64_t>(users_.erase(name));
  return removed;
}

const AclUser* AccessControl::FindUser(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

bool AccessControl::Authenticate(ClientSession& client, std::string_view user,
                                 std::string_view password) const {
  bool ok = false;
  if (user == kPeerUser) {
    ok = peer_hash_.has_value() &&
         CRYPTO_memcmp(Sha256Hex(password).data(), peer_hash_->data(), peer_hash_->size()) == 0;
  } else if (const AclUser* u = FindUser(user)) {
    ok = u->enabled && u->CheckPassword(password);
  }
  if (ok) {
    client.user = std::string(user);
    client.authenticated = true;
  }
  return ok;
}

bool AccessControl::NeedsAuth(const ClientSession& client) const {
  return !client.authenticated && !DefaultIsNopass();
}

std::optional<std::string> AccessControl::Check(ClientSession& client, const CommandSpec& spec,
                                                const Args& args) const {
  if (spec.flags & kNoAuth) return std::nullopt;
  if (NeedsAuth(client)) return std::string(errors::kNoAuth);
  if (!client.authenticated) client.user = "default";
  if (client.user == kPeerUser && peer_hash_) return std::nullopt;
  const AclUser* user = FindUser(client.user);
  if (user == nullptr) {  // deleted since it authenticated: Redis drops such clients
    client.authenticated = false;
    client.user = "default";
    return std::string(errors::kNoAuth);
  }
  if (!user->MayRun(spec)) {
    std::string name = spec.name;
    if ((spec.flags & kSubcommands) && args.size() >= 2) {
      name += "|" + args[1].substr(0, 64);
      for (char& c : name) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    return std::string(errors::kNoPermCommandPrefix) + name + "' command";
  }
  if (!user->all_keys) {
    for (std::string_view key : CommandKeys(spec, args)) {
      if (!user->MayAccessKey(key)) return std::string(errors::kNoPermKey);
    }
  }
  return std::nullopt;
}

}  // namespace geokv::replica
