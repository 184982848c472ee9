// RespParser: an incremental parser of client requests in the Redis protocol.
//
// Accepts RESP2 multibulk requests (`*<n>\r\n` then n times `$<len>\r\n<bytes>\r\n`,
// as every client library sends) and inline requests (a line of space-separated
// words, as redis-cli and telnet send). Bytes arrive in any pieces; the parser
// keeps its place between pieces, so a request split across a thousand reads is
// parsed once, and a pipeline of hundreds of requests in one read yields them
// one after another without further I/O.
//
// Every length is checked against RespLimits before anything is reserved, and
// the buffered bytes are bounded: a hostile or broken client gets a protocol
// error (the connection is then closed, as Redis does) and cannot make the
// server allocate more than the limits. Not thread-safe: one per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace geokv::replica {

struct RespLimits {
  size_t max_bulk_bytes = size_t{512} << 20;        // Redis's proto-max-bulk-len
  size_t max_multibulk_count = 1024 * 1024;         // Redis's limit on arguments
  size_t max_inline_bytes = 64 * 1024;              // an inline request or a header line
  size_t max_query_buffer_bytes = size_t{1} << 30;  // Redis's client-query-buffer-limit
};

class RespParser {
 public:
  enum class Result { kRequest, kNeedMore, kError };

  explicit RespParser(const RespLimits& limits = {});

  // Appends bytes received from the client. Returns false (and sets error())
  // when the buffered, unparsed bytes would exceed max_query_buffer_bytes.
  bool Feed(std::string_view bytes);

  // Parses the next complete request into *args (replacing its contents).
  // kNeedMore: nothing complete is buffered; Feed more and call again.
  // kError: the stream is malformed; error() says how (a Redis-style
  // "Protocol error: ..." line); the parser is unusable afterwards.
  // Empty requests (a blank inline line, `*0`, `*-1`) are skipped.
  Result Next(std::vector<std::string>* args);

  const std::string& error() const { return error_; }
  // Bytes held (unparsed input plus the arguments of a partial request): what
  // counts against the query-buffer limit.
  size_t buffered_bytes() const { return buffer_.size() - pos_ + partial_bytes_; }

 private:
  Result Fail(std::string message);
  Result ParseInline(std::vector<std::string>* args);
  Result ParseMultibulk(std::vector<std::string>* args);
  // Finds "\r\n" from pos_; returns its offset or npos. Fails (setting error_)
  // when a line longer than max_inline_bytes has no end yet.
  size_t FindLineEnd(const char* what, bool* failed);
  void Compact();

  RespLimits limits_;
  std::string buffer_;
  size_t pos_ = 0;
  std::string error_;

  // A multibulk request in progress.
  int64_t multibulk_remaining_ = 0;  // arguments still to read; 0 = none in progress
  int64_t bulk_length_ = -1;         // length of the bulk being read; -1 = header next
  std::vector<std::string> partial_;
  size_t partial_bytes_ = 0;
};

// Splits an inline request line into words, with Redis's quoting rules:
// "double quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' with
// \' ; a closing quote must be followed by a space or the end. Returns false on
// unbalanced quotes.
bool SplitInlineArgs(std::string_view line, std::vector<std::string>* args);

}  // namespace geokv::replica
