// Stop strings at the text level. Generated text arrives in pieces (one per
// token, from the StreamDecoder); a stop string may be split across pieces, so
// the filter holds back the longest tail of the text that could still become
// a stop string, and releases it only once it cannot.
//
//   StopStringFilter f({"###"}, /*include_stop=*/false);
//   f.push("ab#")   -> "ab"   ("#" is held: it may start "###")
//   f.push("#x")    -> "##x"  (no longer a possible start)
//   f.push("y##")   -> "y"    ("##" held)
//   f.push("#z")    -> ""     and f.stopped(): the text ends before "###"
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qs::server {

class StopStringFilter {
 public:
  // Empty strings in `stops` are ignored. include_stop keeps the matched stop
  // string at the end of the text (vLLM's include_stop_str_in_output).
  explicit StopStringFilter(std::vector<std::string> stops, bool include_stop = false);

  // Appends generated text; returns the text that is now final. After a stop
  // string matched, stopped() is true and later pushes return "".
  std::string push(std::string_view text);
  // The end of generation (no stop string): releases the held-back tail.
  std::string flush();

  bool stopped() const { return stopped_; }
  bool active() const { return !stops_.empty(); }
  size_t held_bytes() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  bool include_stop_;
  bool stopped_ = false;
  std::string held_;  // text not yet released: a possible start of a stop string
};

}  // namespace qs::server
