// libFuzzer target: arbitrary bytes through the whole tokenizer. Aborts (so the
// fuzzer reports a crash) when an invariant breaks:
//  - decode_bytes(encode(s)) == s with its valid UTF-8 runs NFC-normalized;
//  - decode() is valid UTF-8 and equals the streaming decoder's output;
//  - the pre-tokenizer pieces tile the input;
//  - chat rendering + segment encoding and tool-call parsing never crash.
// Built and run by run_fuzz.sh (ctest: tokenizer_fuzz).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "tokenizer/chat_template.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tool_calls.h"
#include "tokenizer/unicode.h"

using namespace qs::tokenizer;

namespace {

const Tokenizer& tokenizer() {
  static std::unique_ptr<Tokenizer> tok = [] {
    const char* dir = std::getenv("QS_TOKENIZER_DATA");
    auto r = Tokenizer::Load(dir ? dir : "");
    if (!r.ok()) {
      std::fprintf(stderr, "fuzz: cannot load tokenizer (set QS_TOKENIZER_DATA): %s\n",
                   r.status().message().c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return *tok;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizer& tok = tokenizer();
  std::string_view s(reinterpret_cast<const char*>(data), size);

  std::string joined;
  for (auto p : pretokenize(s)) joined += p;
  check(joined == s, "pre-tokenizer pieces tile the input");

  const bool special = size > 0 && (data[0] & 1);
  auto ids = tok.encode(s, special);
  std::string expected;
  if (!nfc_normalize(s, &expected)) expected = std::string(s);
  check(tok.decode_bytes(ids) == expected, "decode_bytes(encode(s)) == NFC(s)");

  std::string text = tok.decode(ids);
  check(is_valid_utf8(text), "decode() is valid UTF-8");
  StreamDecoder stream(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  check(streamed == text, "stream decoder == decode()");

  std::vector<ChatMessage> msgs = {{"user", std::string(s), {}}};
  auto segs = render_chat_segments(msgs, nullptr, true);
  check(segs.ok(), "render_chat_segments");
  auto chat_ids = tok.encode_segments(*segs);
  check(chat_ids.ok(), "encode_segments");

  auto parsed = parse_tool_calls(s);
  (void)parsed;
  return 0;
}
