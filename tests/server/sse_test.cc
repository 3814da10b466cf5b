#include "server/sse.h"

#include <gtest/gtest.h>

#include "server/openai_responses.h"

namespace qs::server {
namespace {

TEST(Sse, EventIsOneDataLineEndingInBlankLine) {
  nlohmann::json j = {{"text", "line1\nline2\r\n\"q\""}, {"n", 1}};
  const std::string ev = sse_event(j);
  ASSERT_EQ(ev.rfind("data: ", 0), 0u);
  ASSERT_GE(ev.size(), 8u);
  EXPECT_EQ(ev.substr(ev.size() - 2), "\n\n");
  const std::string payload = ev.substr(6, ev.size() - 8);
  EXPECT_EQ(payload.find('\n'), std::string::npos);  // raw newlines would split the event
  EXPECT_EQ(nlohmann::json::parse(payload), j);
}

TEST(Sse, DoneAndComment) {
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  EXPECT_EQ(sse_comment("ping"), ": ping\n\n");
  EXPECT_EQ(sse_comment("a\nb"), ": a b\n\n");
}

TEST(Sse, ErrorEventCarriesErrorJson) {
  const std::string ev = sse_error(ApiError::Overloaded("busy"));
  ASSERT_EQ(ev.rfind("data: ", 0), 0u);
  auto j = nlohmann::json::parse(ev.substr(6));
  EXPECT_EQ(j["error"]["message"], "busy");
  EXPECT_EQ(j["error"]["type"], "server_error");
}

TEST(Sse, ParseRoundTripsAStream) {
  StreamHeader h{"chatcmpl-x", 7, "m", false};
  std::string stream = sse_event(chat_chunk_role(h, 0)) + sse_comment("keep-alive") +
                       sse_event(chat_chunk_content(h, 0, "hi\n")) +
                       sse_event(chat_chunk_finish(h, 0, FinishReason::kStop)) + sse_done();
  std::string rest = "unset";
  auto events = sse_parse_data(stream, &rest);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(events[1])["choices"][0]["delta"]["content"], "hi\n");
  EXPECT_EQ(events[3], "[DONE]");
  EXPECT_EQ(rest, "");
}

TEST(Sse, ParseKeepsIncompleteTailAndHandlesCrlfAndMultiline) {
  std::string stream = "data: a\r\ndata: b\r\n\r\nevent: x\ndata: c\n\ndata: partial";
  std::string rest;
  auto events = sse_parse_data(stream, &rest);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "a\nb");
  EXPECT_EQ(events[1], "c");
  EXPECT_EQ(rest, "data: partial");
}

}  // namespace
}  // namespace qs::server
