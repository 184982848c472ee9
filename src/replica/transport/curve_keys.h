// CURVE key pairs: the identities of nodes on the replication channels.
//
// A key is 32 bytes, written as Z85 (40 characters, ZeroMQ's RFC 32 text
// form). A node's public key is in the topology (`curve_public`); its secret
// key is in a file of its own (--curve-secret-file), which holds the Z85 text
// on one line (trailing whitespace ignored) and must be readable by its owner
// only: a file whose mode grants anything to group or others is refused, as
// ssh refuses such private keys (the secret key is the node's identity: who
// reads it can pose as the node).
#pragma once

#include <string>

#include "common/status.h"

namespace geokv::replica {

inline constexpr size_t kCurveKeyZ85Chars = 40;

struct CurveKeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

// A fresh key pair from libzmq's CSPRNG. Returns Unsupported when libzmq was
// built without CURVE.
Result<CurveKeyPair> GenerateCurveKeyPair();

// The key pair whose secret key `path` holds (the public key derived from it).
// Returns Io when the file cannot be read, Invalid when its mode grants any
// access to group or others ("<path>: mode 0644 lets others read the secret
// key; chmod 600 <path>") or when it does not hold one Z85 key.
Result<CurveKeyPair> LoadCurveSecretFile(const std::string& path);

// Writes `secret_key` to a new file `path` with mode 0600 (refuses to
// overwrite an existing file). Returns Io on failure.
Status WriteCurveSecretFile(const std::string& path, const std::string& secret_key);

}  // namespace geokv::replica
