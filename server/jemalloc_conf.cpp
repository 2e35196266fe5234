// jemalloc's compile-time options for the jetbroker executable (only built when it links jemalloc,
// see server/CMakeLists.txt). One arena: the broker has a few busy threads, and each extra arena
// costs idle memory (narenas:1 measured 15.7 MB idle RSS against 16.0 MB with jemalloc's default of
// 4 per core, glibc 14.6 MB) without changing consume CPU (45 vs 46-52 ticks).
extern "C" {
// NOLINTNEXTLINE: jemalloc reads this global by name
const char* malloc_conf = "narenas:1";
}
