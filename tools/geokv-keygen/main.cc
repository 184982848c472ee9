// geokv-keygen: makes a node's CURVE key pair for the replication channels.
//
//   geokv-keygen SECRET_FILE
//
// Writes the secret key to SECRET_FILE (created with mode 0600; an existing
// file is never overwritten) and prints the line to paste into the node's
// table in the topology file:
//
//   curve_public = "<40 Z85 characters>"
//
// The node then runs with --curve-secret-file SECRET_FILE. Exit status 1, with
// a message on stderr, when the file cannot be made or libzmq lacks CURVE.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "replica/transport/curve_keys.h"

int main(int argc, char** argv) {
  CLI::App app{"geokv-keygen: make a CURVE key pair for a geokv node"};
  std::string secret_file;
  app.add_option("secret-file", secret_file,
                 "where to write the secret key (mode 0600, must not exist yet)")
      ->required();
  CLI11_PARSE(app, argc, argv);

  auto keys = geokv::replica::GenerateCurveKeyPair();
  if (!keys.ok()) {
    std::fprintf(stderr, "geokv-keygen: %s\n", keys.status().message().c_str());
    return 1;
  }
  if (auto s = geokv::replica::WriteCurveSecretFile(secret_file, keys->secret_key); !s.ok()) {
    std::fprintf(stderr, "geokv-keygen: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("curve_public = \"%s\"\n", keys->public_key.c_str());
  return 0;
}
