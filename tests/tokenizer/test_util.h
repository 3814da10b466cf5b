// Shared by the tokenizer tests: the data folder and one loaded tokenizer.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"

namespace qs::tokenizer::testing {

inline std::string data_dir() { return QS_TOKENIZER_DATA; }

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The tokenizer loaded from the shared data folder, or nullptr (tests then fail
// loudly: a missing folder is a failure, never a skip).
inline const Tokenizer* shared_tokenizer() {
  static std::unique_ptr<Tokenizer> tok = [] {
    auto r = Tokenizer::Load(data_dir());
    if (!r.ok()) {
      ADD_FAILURE() << "cannot load the tokenizer from " << data_dir() << ": "
                    << r.status().message();
      return std::unique_ptr<Tokenizer>();
    }
    return std::move(r).value();
  }();
  return tok.get();
}

}  // namespace qs::tokenizer::testing

#define QS_REQUIRE_TOKENIZER(tok)                                                       \
  const ::qs::tokenizer::Tokenizer* tok = ::qs::tokenizer::testing::shared_tokenizer(); \
  ASSERT_NE(tok, nullptr) << "tokenizer data folder missing or unreadable: "            \
                          << ::qs::tokenizer::testing::data_dir()
