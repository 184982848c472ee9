// What the placement module's TOML readers share (topology.cc, peer_routes.cc):
// parsing a document within a size limit, and reporting every problem found
// in it, one line each, "<source>:<line>: <key path>: <what is wrong>", sorted
// by line, at most kMaxReportedProblems. Internal to geokv_placement (toml++
// is its private dependency).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace geokv::placement::toml_reader {

// Problems listed in one message; a last line says how many more there are.
inline constexpr size_t kMaxReportedProblems = 50;

// The region's first line (1 when toml++ gives none).
uint32_t LineOf(const toml::source_region& region);
// Control characters (and DEL) as \xNN, so that a message stays on one line
// whatever bytes the file held.
std::string EscapeControls(std::string_view s);
// `s` in double quotes, with " and \ escaped and controls as \xNN.
std::string Quoted(std::string_view s);
// `key` appended to a key path: bare when TOML allows it bare, else quoted.
std::string Join(std::string_view path, std::string_view key);

// `text` parsed, or Invalid: "<source>:1: document: larger than the
// <max_bytes>-byte limit" (unparsed), or "<source>:<line>: syntax: <what>
// (column <c>)".
Result<toml::table> ParseDocument(std::string_view text, const std::string& source_name,
                                  size_t max_bytes);

// The problems of one document.
class ProblemList {
 public:
  explicit ProblemList(std::string source_name) : source_name_(std::move(source_name)) {}
  void Report(uint32_t line, std::string_view path, std::string_view what);
  bool empty() const { return problems_.empty(); }
  size_t size() const { return problems_.size(); }
  // Every problem, sorted by line (ties in the order reported), at most
  // kMaxReportedProblems of them, then "<source>:<line>: document: N more
  // problems not shown".
  std::string Message();

 private:
  struct Problem {
    uint32_t line;
    std::string text;
  };
  std::string source_name_;
  std::vector<Problem> problems_;
};

}  // namespace geokv::placement::toml_reader
