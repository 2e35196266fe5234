// `jetbroker` only (server/CMakeLists.txt): its ELF entry point. The common `-js` start-up execs
// jetbroker-filestore here, before glibc initialises anything (its CPU feature and cache probing
// alone is dozens of CPUID instructions, each a VM exit on a virtual machine) and before this
// executable's static initialisers run for nothing; otherwise it continues at glibc's _start as if
// nothing happened. Only unambiguous command lines are recognised: a JetStream flag, no
// configuration file and no ":memory:" store. Anything else reaches main(), which decides exactly
// (server/main.cpp). Exec'ing the full broker when it was not needed would still be correct, only
// slower; when the exec fails, main() runs and reports it.
//
// Nothing here may touch glibc: before _start there is no TLS, no stack protector canary and no
// resolved IFUNC (strcmp, memcpy...). Hence raw system calls and hand-written string loops, and
// the compile flags server/CMakeLists.txt sets for this file (-ffreestanding, no stack protector,
// no loop-to-libcall rewriting).
#include <sys/syscall.h>

#include "server/file_store_exec.hpp"

#if !defined(__x86_64__) || !defined(__linux__)
#error "jetbroker's entry point is written for x86-64 Linux"
#endif

namespace {

long raw_syscall3(long n, long a, long b, long c) {
  long r;
  asm volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

bool equal(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

bool starts_with(const char* s, const char* prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}

bool contains(const char* s, const char* needle) {
  for (; *s; ++s)
    if (starts_with(s, needle)) return true;
  return false;
}

bool is_jetstream_flag(const char* a) {
  static const char* const flags[] = {"-js",      "--js",      "-jetstream",      "--jetstream",
                                      "-js=true", "--js=true", "-jetstream=true", "--jetstream=true"};
  for (const char* f : flags)
    if (equal(a, f)) return true;
  return false;
}

// The path server/file_store_exec.hpp's file_store_executable() computes, beside /proc/self/exe
// (without its argv[0] fallback: main() has that).
bool file_store_path(char* buf, long size) {
  const auto& name = jb::server::file_store_executable_name;
  long n = raw_syscall3(SYS_readlink, reinterpret_cast<long>("/proc/self/exe"), reinterpret_cast<long>(buf), size);
  if (n <= 0 || n >= size) return false;
  long dir = n;
  while (dir > 0 && buf[dir - 1] != '/') --dir;
  if (dir == 0 || dir + static_cast<long>(sizeof name) > size) return false;
  for (long i = 0; i < static_cast<long>(sizeof name); ++i) buf[dir + i] = name[i];
  return true;
}

}  // namespace

// Called from jb_entry with the initial process stack: argc, argv[0..argc), NULL, envp..., NULL.
// Returns only when it does not exec.
extern "C" [[gnu::used]] void jb_early_exec(long* sp) {
  const long argc = sp[0];
  char** argv = reinterpret_cast<char**>(sp + 1);
  char** envp = argv + argc + 1;
  bool js = false;
  for (long i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (contains(a, ":memory:")) return;
    if (starts_with(a, "-c") || starts_with(a, "--c")) return;  // -c, --config
    js = js || is_jetstream_flag(a);
  }
  if (!js) return;
  char path[4096];
  if (!file_store_path(path, sizeof path)) return;
  raw_syscall3(SYS_execve, reinterpret_cast<long>(path), reinterpret_cast<long>(argv), reinterpret_cast<long>(envp));
}

// The entry point (linked with -e jb_entry). The kernel starts it with rsp 16-byte aligned at argc
// and rdx = the dynamic loader's finaliser (0 for a static executable): both are handed to glibc's
// _start unchanged. r12 is callee-saved, so it carries rdx across the call.
asm(R"(
  .text
  .globl jb_entry
  .type jb_entry, @function
jb_entry:
  mov %rdx, %r12
  mov %rsp, %rdi
  call jb_early_exec
  mov %r12, %rdx
  jmp _start
  .size jb_entry, .-jb_entry
)");
