// qwenserve: one binary, subcommands registered by the cmd_*.cc files.
#include <cstdio>
#include <exception>

#include "cli/command_registry.h"

namespace qs::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}
}  // namespace qs::cli

int main(int argc, char** argv) {
  CLI::App app{"qwenserve: an inference server for the Qwen2.5 family"};
  app.require_subcommand(1);
  for (auto& spec : qs::cli::command_registry())
    spec.setup(app.add_subcommand(spec.name, spec.help));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const qs::cli::CommandError& e) {
    std::fprintf(stderr, "qwenserve: %s\n", e.message.c_str());
    return e.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwenserve: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
