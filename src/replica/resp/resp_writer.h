// RespWriter: encodes replies in the Redis protocol, RESP2 or RESP3 (the
// connection's HELLO chooses), into a buffer.
//
// Every reply a command gives goes through these few shapes, so the protocol
// framing lives in one place: a handler says "a map of n pairs" or "a set of
// n members" and the writer frames it as the connection's protocol does (RESP2
// flattens maps and sets into arrays and writes nulls as $-1 / *-1, as Redis
// does). Appends to an output buffer the connection owns; the connection
// bounds that buffer (client-output-buffer limit).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace geokv::replica {

// The protocol versions HELLO can choose.
inline constexpr int kResp2 = 2;
inline constexpr int kResp3 = 3;

class RespWriter {
 public:
  // REQUIRES: protocol is kResp2 or kResp3.
  explicit RespWriter(std::string* out, int protocol = kResp2) : out_(out), protocol_(protocol) {}

  int protocol() const { return protocol_; }

  // +OK. REQUIRES: s has no CR or LF.
  void Simple(std::string_view s);
  // -ERR ... (message includes its code, e.g. "ERR unknown command"); CR and LF
  // in the message are replaced by spaces so a reply can never be split.
  void Error(std::string_view message);
  void Integer(int64_t value);
  void Bulk(std::string_view bytes);
  void Null();                     // a missing value: $-1, RESP3 _
  void NullArray();                // a missing array: *-1, RESP3 _
  void ArrayHeader(size_t count);  // followed by `count` replies
  // Followed by `pairs` key-value pairs of replies: RESP3 %, RESP2 an array
  // of 2 x pairs.
  void MapHeader(size_t pairs);
  // Followed by `count` distinct replies: RESP3 ~, RESP2 an array.
  void SetHeader(size_t count);

 private:
  void Header(char type, size_t count);

  std::string* out_;
  int protocol_;
};

// The RESP encoding of one error reply, for code that hands replies on as
// bytes (e.g. "-ERR ...\r\n" for "ERR ..."); same rules as RespWriter::Error.
std::string ErrorReply(std::string_view message);

}  // namespace geokv::replica
