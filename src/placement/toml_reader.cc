#include "placement/toml_reader.h"

#include <algorithm>
#include <cstdio>

namespace geokv::placement::toml_reader {

uint32_t LineOf(const toml::source_region& region) {
  return region.begin.line == 0 ? 1 : static_cast<uint32_t>(region.begin.line);
}

std::string EscapeControls(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", byte);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return EscapeControls(out) + "\"";
}

std::string Join(std::string_view path, std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  const std::string text = bare ? std::string(key) : Quoted(key);
  return path.empty() ? text : std::string(path) + "." + text;
}

Result<toml::table> ParseDocument(std::string_view text, const std::string& source_name,
                                  size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Status::Invalid(source_name + ":1: document: larger than the " +
                           std::to_string(max_bytes) + "-byte limit");
  }
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return Status::Invalid(source_name + ":" + std::to_string(LineOf(e.source())) +
                           ": syntax: " + EscapeControls(e.description()) + " (column " +
                           std::to_string(e.source().begin.column) + ")");
  }
}

void ProblemList::Report(uint32_t line, std::string_view path, std::string_view what) {
  problems_.push_back({line, source_name_ + ":" + std::to_string(line) + ": " + std::string(path) +
                                 ": " + std::string(what)});
}

std::string ProblemList::Message() {
  std::stable_sort(problems_.begin(), problems_.end(),
                   [](const Problem& a, const Problem& b) { return a.line < b.line; });
  std::string out;
  for (size_t i = 0; i < problems_.size() && i < kMaxReportedProblems; ++i) {
    if (!out.empty()) out += '\n';
    out += problems_[i].text;
  }
  if (problems_.size() > kMaxReportedProblems) {
    out += "\n" + source_name_ + ":" + std::to_string(problems_[kMaxReportedProblems].line) +
           ": document: " + std::to_string(problems_.size() - kMaxReportedProblems) +
           " more problems not shown";
  }
  return out;
}

}  // namespace geokv::placement::toml_reader
