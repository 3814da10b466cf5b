// `qwenserve tokenize -m DIR "text"`: ids and pieces of a text;
// `--decode 9707 1879`: the text of ids.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command_registry.h"
#include "cli/gguf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

// Printable form of raw token bytes: C-style escapes for control characters
// and invalid UTF-8 bytes, so one token is always one line.
std::string escape_bytes(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\\')
      out += "\\\\";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

struct Options {
  std::string model_dir;
  std::vector<std::string> args;
  bool decode = false;
  bool special = false;
  bool ids_only = false;
};

void run(const Options& o) {
  auto loaded = qs::cli::load_model_tokenizer(o.model_dir);  // a directory or a .gguf
  if (!loaded.ok()) throw qs::cli::CommandError{"tokenize: " + loaded.status().message(), 1};
  const auto& tok = **loaded;
  if (o.decode) {
    std::vector<int32_t> ids;
    for (const std::string& a : o.args) {
      std::string cur;
      for (char c : a + ",") {
        if (c >= '0' && c <= '9') {
          cur.push_back(c);
        } else if (c == ',' || c == ' ' || c == '[' || c == ']') {
          if (!cur.empty()) {
            long v = std::strtol(cur.c_str(), nullptr, 10);
            if (v >= tok.vocab_size())
              throw qs::cli::CommandError{"tokenize: id " + cur + " is out of range", 2};
            ids.push_back(static_cast<int32_t>(v));
          }
          cur.clear();
        } else {
          throw qs::cli::CommandError{"tokenize: --decode takes ids, got '" + a + "'", 2};
        }
      }
    }
    std::printf("%s\n", tok.decode(ids, /*skip_special=*/false).c_str());
    return;
  }
  std::string text;
  for (size_t i = 0; i < o.args.size(); ++i) text += (i ? " " : "") + o.args[i];
  auto ids = tok.encode(text, o.special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + std::to_string(ids[i]);
  std::printf("[%s]\n", line.c_str());
  if (o.ids_only) return;
  std::printf("%zu tokens\n", ids.size());
  for (int32_t id : ids) {
    std::printf("%8d  %-24s  \"%s\"\n", id, tok.token_piece(id).c_str(),
                escape_bytes(tok.token_bytes(id)).c_str());
  }
}

qs::cli::CommandRegistrar reg(
    "tokenize", "Show the token ids and pieces of a text (or decode ids)", [](CLI::App* sub) {
      auto o = std::make_shared<Options>();
      sub->add_option("-m,--model", o->model_dir,
                      "Model directory (vocab.json + merges.txt, or "
                      "tokenizer.json) or .gguf file")
          ->required();
      sub->add_flag("--decode", o->decode, "Arguments are ids; print the text");
      sub->add_flag("--special", o->special, "Recognise special-token text such as <|im_start|>");
      sub->add_flag("--ids-only", o->ids_only, "Print only the id list");
      sub->add_option("text", o->args, "Text to encode (or ids to decode)")->required();
      sub->callback([o] { run(*o); });
    });

}  // namespace
