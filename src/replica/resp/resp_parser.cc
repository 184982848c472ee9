#include "replica/resp/resp_parser.h"

#include <charconv>

namespace geokv::replica {

namespace {

// Parses a decimal integer filling the whole of `s` (optionally negative).
bool ParseLength(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

RespParser::RespParser(const RespLimits& limits) : limits_(limits) {}

bool RespParser::Feed(std::string_view bytes) {
  if (!error_.empty()) return false;
  if (buffered_bytes() + bytes.size() > limits_.max_query_buffer_bytes) {
    error_ = "Protocol error: query buffer limit exceeded";
    return false;
  }
  Compact();
  buffer_.append(bytes);
  return true;
}

void RespParser::Compact() {
  // Drop consumed bytes once they are most of the buffer: amortized O(1) per byte.
  if (pos_ > 0 && (pos_ == buffer_.size() || pos_ >= buffer_.size() / 2)) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
}

RespParser::Result RespParser::Fail(std::string message) {
  error_ = std::move(message);
  return Result::kError;
}

size_t RespParser::FindLineEnd(const char* what, bool* failed) {
  *failed = false;
  const size_t end = buffer_.find("\r\n", pos_);
  const size_t available = (end == std::string::npos ? buffer_.size() : end) - pos_;
  if (available > limits_.max_inline_bytes) {
    *failed = true;
    Fail(std::string("Protocol error: too big ") + what);
  }
  return end;
}

RespParser::Result RespParser::Next(std::vector<std::string>* args) {
  for (;;) {
    if (!error_.empty()) return Result::kError;
    if (multibulk_remaining_ == 0) {
      if (pos_ >= buffer_.size()) return Result::kNeedMore;
      if (buffer_[pos_] != '*') {
        const Result r = ParseInline(args);
        if (r == Result::kRequest && args->empty()) continue;  // blank line
        return r;
      }
    }
    const Result r = ParseMultibulk(args);
    if (r == Result::kRequest && args->empty()) continue;  // *0 or *-1
    return r;
  }
}

RespParser::Result RespParser::ParseInline(std::vector<std::string>* args) {
  const size_t end = buffer_.find('\n', pos_);
  const size_t available = (end == std::string::npos ? buffer_.size() : end) - pos_;
  if (available > limits_.max_inline_bytes) return Fail("Protocol error: too big inline request");
  if (end == std::string::npos) return Result::kNeedMore;
  std::string_view line(buffer_.data() + pos_, end - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  args->clear();
  if (!SplitInlineArgs(line, args)) return Fail("Protocol error: unbalanced quotes in request");
  pos_ = end + 1;
  return Result::kRequest;
}

RespParser::Result RespParser::ParseMultibulk(std::vector<std::string>* args) {
  bool failed = false;
  if (multibulk_remaining_ == 0) {
    const size_t end = FindLineEnd("mbulk count string", &failed);
    if (failed) return Result::kError;
    if (end == std::string::npos) return Result::kNeedMore;
    int64_t count = 0;
    if (!ParseLength(std::string_view(buffer_).substr(pos_ + 1, end - pos_ - 1), &count) ||
        count > static_cast<int64_t>(limits_.max_multibulk_count)) {
      return Fail("Protocol error: invalid multibulk length");
    }
    pos_ = end + 2;
    partial_.clear();
    partial_bytes_ = 0;
    if (count <= 0) {
      args->clear();
      return Result::kRequest;  // empty request, skipped by Next
    }
    multibulk_remaining_ = count;
    bulk_length_ = -1;
    // Reserve only a bounded amount up front: the count is the client's claim.
    partial_.reserve(static_cast<size_t>(std::min<int64_t>(count, 1024)));
  }
  while (multibulk_remaining_ > 0) {
    if (bulk_length_ < 0) {
      if (pos_ >= buffer_.size()) return Result::kNeedMore;
      if (buffer_[pos_] != '$') {
        return Fail(std::string("Protocol error: expected '$', got '") + buffer_[pos_] + "'");
      }
      const size_t end = FindLineEnd("bulk count string", &failed);
      if (failed) return Result::kError;
      if (end == std::string::npos) return Result::kNeedMore;
      int64_t length = 0;
      if (!ParseLength(std::string_view(buffer_).substr(pos_ + 1, end - pos_ - 1), &length) ||
          length < 0 || static_cast<uint64_t>(length) > limits_.max_bulk_bytes) {
        return Fail("Protocol error: invalid bulk length");
      }
      pos_ = end + 2;
      bulk_length_ = length;
    }
    const size_t need = static_cast<size_t>(bulk_length_) + 2;
    if (buffer_.size() - pos_ < need) {
      // Large bulk still arriving: make room once rather than growing in steps.
      if (buffer_.capacity() < pos_ + need) buffer_.reserve(pos_ + need);
      return Result::kNeedMore;
    }
    if (buffer_[pos_ + need - 2] != '\r' || buffer_[pos_ + need - 1] != '\n') {
      return Fail("Protocol error: expected CRLF after bulk data");
    }
    partial_.emplace_back(buffer_, pos_, static_cast<size_t>(bulk_length_));
    partial_bytes_ += static_cast<size_t>(bulk_length_);
    pos_ += need;
    bulk_length_ = -1;
    --multibulk_remaining_;
  }
  args->swap(partial_);
  partial_.clear();
  partial_bytes_ = 0;
  return Result::kRequest;
}

bool SplitInlineArgs(std::string_view line, std::vector<std::string>* args) {
  size_t i = 0;
  const size_t n = line.size();
  for (;;) {
    while (i < n && IsSpace(line[i])) ++i;
    if (i >= n) return true;
    std::string word;
    bool in_double = false, in_single = false;
    for (;;) {
      if (in_double) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' && HexValue(line[i + 2]) >= 0 &&
            HexValue(line[i + 3]) >= 0) {
          word.push_back(static_cast<char>(HexValue(line[i + 2]) * 16 + HexValue(line[i + 3])));
          i += 4;
        } else if (line[i] == '\\' && i + 1 < n) {
          const char c = line[i + 1];
          word.push_back(c == 'n'   ? '\n'
                         : c == 'r' ? '\r'
                         : c == 't' ? '\t'
                         : c == 'b' ? '\b'
                         : c == 'a' ? '\a'
                                    : c);
          i += 2;
        } else if (line[i] == '"') {
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          ++i;
          break;
        } else {
          word.push_back(line[i++]);
        }
      } else if (in_single) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
          word.push_back('\'');
          i += 2;
        } else if (line[i] == '\'') {
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          ++i;
          break;
        } else {
          word.push_back(line[i++]);
        }
      } else {
        if (i >= n || IsSpace(line[i])) break;
        if (line[i] == '"') {
          in_double = true;
        } else if (line[i] == '\'') {
          in_single = true;
        } else {
          word.push_back(line[i]);
        }
        ++i;
      }
    }
    args->push_back(std::move(word));
  }
}

}  // namespace geokv::replica
