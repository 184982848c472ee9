// AccessControl: a node's ACL users, client authentication and the
// permission check every request passes, as Redis 6+/7 does them.
//
// Users come from --requirepass (the default user's password), an ACL file
// (--aclfile; Redis's format: one `user <name> <rules...>` per line) and ACL
// SETUSER/DELUSER. A client starts as the default user, authenticated only if
// that user is `on nopass` (then nothing is required, Redis's default); AUTH
// or HELLO AUTH switch it to another user.
//
// Nodes forward requests to each other (forwarder.h): the permission check
// runs at the node the client is connected to, before forwarding, with the
// client's user; the forwarding connection then authenticates as the reserved
// peer user (kPeerUser) with the cluster secret (--cluster-secret-file) and may
// run everything. That user is not an ACL user: no SETUSER, DELUSER, LIST or
// file line names it.
//
// Threading: the I/O thread only.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "replica/commands/acl_user.h"
#include "replica/commands/connection.h"

namespace geokv::replica {

class AccessControl {
 public:
  static constexpr std::string_view kPeerUser = "geokv-peer";
  static constexpr size_t kUsersMax = 10'000;
  static constexpr size_t kAclFileBytesMax = size_t{16} << 20;

  // The default user only: on, nopass, every command and key (Redis's default).
  AccessControl();

  // --requirepass: the default user's only password ("" = nopass again).
  void SetRequirePass(std::string_view password);
  // --cluster-secret-file's secret: enables the peer user.
  // REQUIRES: secret is not empty.
  void SetPeerSecret(std::string_view secret);
  bool HasPeerSecret() const { return peer_hash_.has_value(); }
  // --aclfile. Loads it at once; an error names the file and the line, and
  // keeps the users as they were (ACL LOAD's contract too).
  [[nodiscard]] Status UseAclFile(const std::string& path);
  // ACL LOAD: reloads the ACL file, all or nothing.
  [[nodiscard]] Status Load();
  // ACL SAVE: writes the users to the ACL file (a temporary file, fsync,
  // then rename: a crash leaves the old file or the new one).
  [[nodiscard]] Status Save() const;

  // Whether authentication is configured at all (a password on the default
  // user, or an ACL file): the safe-default check at start.
  bool AuthConfigured() const;
  const std::string& requirepass() const { return requirepass_; }
  const std::string& aclfile() const { return aclfile_; }

  // ACL SETUSER: applies `rules` to the user (created if new), all or nothing.
  // The error is Redis's reply text.
  [[nodiscard]] Status SetUser(std::string_view name, const std::vector<std::string>& rules);
  // ACL DELUSER: the number of users removed. The default user cannot be
  // (error).
  [[nodiscard]] Result<int64_t> DelUsers(const std::vector<std::string>& names);
  const AclUser* FindUser(std::string_view name) const;
  const std::map<std::string, AclUser, std::less<>>& users() const { return users_; }

  // AUTH / HELLO AUTH: switches `client` to `user` if the password is right
  // and the user is on; false (client unchanged) otherwise.
  bool Authenticate(ClientSession& client, std::string_view user, std::string_view password) const;
  // Whether the client must authenticate before running commands.
  bool NeedsAuth(const ClientSession& client) const;
  // Whether a bare `AUTH password` means nothing (the default user is nopass).
  bool DefaultIsNopass() const;

  // The permission check at dispatch: the error reply (without "-" and CRLF)
  // when `client` may not run this request (NOAUTH, NOPERM command, NOPERM
  // key), nullopt when it may. REQUIRES: the arity was checked.
  std::optional<std::string> Check(ClientSession& client, const CommandSpec& spec,
                                   const Args& args) const;

 private:
  using Users = std::map<std::string, AclUser, std::less<>>;
  static AclUser DefaultUser();
  // Parses an ACL file's text into users; the error names `source`:line.
  static Result<Users> ParseAclFile(std::string_view text, const std::string& source);

  Users users_;
  std::string requirepass_;
  std::string aclfile_;
  std::optional<std::string> peer_hash_;
};

// Whether `name` may name a user: not empty, no spaces or control bytes (a
// name is a word of an ACL file line), not the reserved peer user.
bool ValidUserName(std::string_view name);

}  // namespace geokv::replica
