// libFuzzer target for the RESP parser: the input is fed in pieces whose sizes
// come from the input itself, with small limits so the limit paths are reached.
// Any crash, sanitizer report or broken invariant is a finding.
//
//   make fuzz FUZZ_SECONDS=600      (make test runs it for a few seconds)
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "replica/resp/resp_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  geokv::replica::RespLimits limits;
  limits.max_bulk_bytes = 1024;
  limits.max_inline_bytes = 256;
  limits.max_multibulk_count = 4096;
  limits.max_query_buffer_bytes = 8192;
  geokv::replica::RespParser parser(limits);
  const size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> args;
  for (size_t at = 0; at < input.size(); at += piece) {
    if (!parser.Feed(input.substr(at, piece))) break;
    using R = geokv::replica::RespParser::Result;
    R r;
    while ((r = parser.Next(&args)) == R::kRequest) {
      if (args.empty() || args.size() > limits.max_multibulk_count) std::abort();
      for (const auto& a : args) {
        if (a.size() > limits.max_bulk_bytes && a.size() > limits.max_inline_bytes) std::abort();
      }
    }
    if (r == R::kError) break;
    if (parser.buffered_bytes() > limits.max_query_buffer_bytes) std::abort();
  }
  return 0;
}
