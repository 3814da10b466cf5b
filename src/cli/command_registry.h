// Subcommands register themselves: each cmd_*.cc defines
//   static qs::cli::CommandRegistrar reg("name", "help", &setup);
// where setup(CLI::App* sub) declares its options and sets its callback. The
// cli sources are compiled straight into the qwenserve executable, so these
// static registrars are never dropped by the linker.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace qs::cli {

struct CommandSpec {
  std::string name;
  std::string help;
  std::function<void(CLI::App*)> setup;
};

std::vector<CommandSpec>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string help, std::function<void(CLI::App*)> setup) {
    command_registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

// A command's callback reports failure by throwing this; main prints
// "qwenserve <cmd>: <message>" and exits with `code`.
struct CommandError {
  std::string message;
  int code = 1;
};

}  // namespace qs::cli
