// `jetbroker` only (server/CMakeLists.txt): the common `-js` start-up execs jetbroker-filestore
// from .preinit_array, before this executable's static initialisers (OpenSSL, locale, Boost and
// the allocator: most of its own start-up) run for nothing. Only unambiguous command lines are
// recognised here: a JetStream flag, no configuration file and no ":memory:" store. Anything else
// reaches main(), which decides exactly (server/main.cpp). Exec'ing the full broker when it was not
// needed would still be correct, only slower; when the exec fails, main() reports it.
#include <unistd.h>

#include <cstring>

#include "server/file_store_exec.hpp"

namespace {

bool is_jetstream_flag(const char* a) {
  static const char* const flags[] = {"-js",        "--js",        "-jetstream",      "--jetstream",
                                      "-js=true",   "--js=true",   "-jetstream=true", "--jetstream=true"};
  for (const char* f : flags)
    if (std::strcmp(a, f) == 0) return true;
  return false;
}

void exec_file_store_early(int argc, char** argv, char** envp) {
  bool js = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strstr(a, ":memory:")) return;
    if (std::strncmp(a, "-c", 2) == 0 || std::strncmp(a, "--c", 3) == 0) return;  // -c, --config
    js = js || is_jetstream_flag(a);
  }
  if (!js || argc < 1) return;
  char path[4096];
  if (!jb::server::file_store_executable(argv[0], path, sizeof path)) return;
  ::execve(path, argv, envp);
}

[[gnu::section(".preinit_array"), gnu::used]] void (*const early_exec)(int, char**, char**) = exec_file_store_early;

}  // namespace
