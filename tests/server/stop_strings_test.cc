#include "server/stop_strings.h"

#include <gtest/gtest.h>

#include <random>

namespace qs::server {
namespace {

// Feeds pieces; returns everything released (push + flush unless stopped).
std::string run(StopStringFilter& f, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) out += f.push(p);
  if (!f.stopped()) out += f.flush();
  return out;
}

TEST(StopStrings, NoStopsPassesThrough) {
  StopStringFilter f({});
  EXPECT_FALSE(f.active());
  EXPECT_EQ(f.push("abc"), "abc");
  EXPECT_EQ(f.held_bytes(), 0u);
}

TEST(StopStrings, HoldsAPossibleStartAndReleasesIt) {
  StopStringFilter f({"###"});
  EXPECT_EQ(f.push("ab#"), "ab");
  EXPECT_EQ(f.held_bytes(), 1u);
  EXPECT_EQ(f.push("#x"), "##x");
  EXPECT_EQ(f.push("y##"), "y");
  EXPECT_EQ(f.push("#z"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.push("more"), "");
}

TEST(StopStrings, SplitAcrossManyPieces) {
  StopStringFilter f({"STOP"});
  EXPECT_EQ(run(f, {"hello S", "T", "O", "P and more"}), "hello ");
  EXPECT_TRUE(f.stopped());
}

TEST(StopStrings, IncludeStopKeepsTheMatch) {
  StopStringFilter f({"</end>"}, /*include_stop=*/true);
  EXPECT_EQ(run(f, {"x</e", "nd>tail"}), "x</end>");
}

TEST(StopStrings, EarliestMatchWins) {
  // "abcd" starts before "bc", though "bc" is complete first.
  StopStringFilter f({"bc", "abcd"});
  EXPECT_EQ(run(f, {"xabcd"}), "x");
  StopStringFilter g({"cd", "abce"});
  EXPECT_EQ(run(g, {"xab", "cd"}), "xab");
}

TEST(StopStrings, FlushReleasesHeldTailAtEnd) {
  StopStringFilter f({"<|x|>"});
  EXPECT_EQ(f.push("text <|"), "text ");
  EXPECT_EQ(f.flush(), "<|");
  EXPECT_FALSE(f.stopped());
}

TEST(StopStrings, MultiByteTextIsNeverCutInsideACharacter) {
  StopStringFilter f({"。结束"});
  std::string out = run(f, {"你好。", "结", "束了"});
  EXPECT_EQ(out, "你好");
}

// Property: for random texts and random piece boundaries, the output equals
// the text cut before the first occurrence of any stop string.
TEST(StopStrings, RandomSplitsMatchTheWholeTextAnswer) {
  std::mt19937 rng(7);
  const std::vector<std::string> stops = {"aba", "bb", "cab"};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string text;
    int len = rng() % 20;
    for (int i = 0; i < len; ++i) text.push_back("abc"[rng() % 3]);
    size_t cut = std::string::npos;
    for (const std::string& s : stops) cut = std::min(cut, text.find(s));
    std::string want = cut == std::string::npos ? text : text.substr(0, cut);
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      size_t n = 1 + rng() % 4;
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    StopStringFilter f(stops);
    EXPECT_EQ(run(f, pieces), want) << text;
    EXPECT_EQ(f.stopped(), cut != std::string::npos) << text;
  }
}

}  // namespace
}  // namespace qs::server
