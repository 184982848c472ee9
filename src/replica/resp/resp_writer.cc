#include "replica/resp/resp_writer.h"

#include <charconv>

namespace geokv::replica {

namespace {
void AppendNumber(std::string* out, int64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, end);
}
}  // namespace

void RespWriter::Simple(std::string_view s) {
  out_->push_back('+');
  out_->append(s);
  out_->append("\r\n");
}

void RespWriter::Error(std::string_view message) {
  out_->push_back('-');
  for (char c : message) out_->push_back(c == '\r' || c == '\n' ? ' ' : c);
  out_->append("\r\n");
}

void RespWriter::Integer(int64_t value) {
  out_->push_back(':');
  AppendNumber(out_, value);
  out_->append("\r\n");
}

void RespWriter::Bulk(std::string_view bytes) {
  out_->push_back('$');
  AppendNumber(out_, static_cast<int64_t>(bytes.size()));
  out_->append("\r\n");
  out_->append(bytes);
  out_->append("\r\n");
}

void RespWriter::Null() { out_->append(protocol_ == kResp3 ? "_\r\n" : "$-1\r\n"); }

void RespWriter::NullArray() { out_->append(protocol_ == kResp3 ? "_\r\n" : "*-1\r\n"); }

void RespWriter::ArrayHeader(size_t count) { Header('*', count); }

void RespWriter::MapHeader(size_t pairs) {
  protocol_ == kResp3 ? Header('%', pairs) : Header('*', 2 * pairs);
}

void RespWriter::SetHeader(size_t count) { Header(protocol_ == kResp3 ? '~' : '*', count); }

void RespWriter::Header(char type, size_t count) {
  out_->push_back(type);
  AppendNumber(out_, static_cast<int64_t>(count));
  out_->append("\r\n");
}

std::string ErrorReply(std::string_view message) {
  std::string out;
  RespWriter(&out).Error(message);
  return out;
}

}  // namespace geokv::replica
