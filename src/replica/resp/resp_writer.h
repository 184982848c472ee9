// RespWriter: encodes replies in the Redis protocol (RESP2) into a buffer.
//
// Every reply a command gives goes through these few shapes, so the protocol
// framing lives in one place. Appends to an output buffer the connection owns;
// the connection bounds that buffer (client-output-buffer limit).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace geokv::replica {

class RespWriter {
 public:
  explicit RespWriter(std::string* out) : out_(out) {}

  // +OK. REQUIRES: s has no CR or LF.
  void Simple(std::string_view s);
  // -ERR ... (message includes its code, e.g. "ERR unknown command"); CR and LF
  // in the message are replaced by spaces so a reply can never be split.
  void Error(std::string_view message);
  void Integer(int64_t value);
  void Bulk(std::string_view bytes);
  void Null();                     // $-1 (a missing value)
  void NullArray();                // *-1
  void ArrayHeader(size_t count);  // followed by `count` replies

 private:
  std::string* out_;
};

// The RESP encoding of one error reply, for code that hands replies on as
// bytes (e.g. "-ERR ...\r\n" for "ERR ..."); same rules as RespWriter::Error.
std::string ErrorReply(std::string_view message);

}  // namespace geokv::replica
