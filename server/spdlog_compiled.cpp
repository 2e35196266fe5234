// spdlog and fmt compiled once, for the static build (CMakeLists.txt, "jetbroker_spdlog").
//
// Debian ships both libraries as shared objects only. Their header-only mode compiled spdlog's
// logger, registry and formatter, and fmt's formatting core, into every translation unit that
// includes server/log.hpp: a fifth to a third of those units' compile time. Every other unit is
// now compiled with SPDLOG_COMPILED_LIB (declarations only); this one, with the same macro, turns
// the libraries' -inl.h headers into ordinary out-of-line definitions, and instantiates the
// templates whose definitions the other units no longer see: the sinks server/log.cpp creates and
// the colour sink of spdlog's default logger.
#if !defined(SPDLOG_COMPILED_LIB) || defined(FMT_HEADER_ONLY)
#error "server/spdlog_compiled.cpp is built with SPDLOG_COMPILED_LIB and without FMT_HEADER_ONLY"
#endif

#include <fmt/format-inl.h>

#include <mutex>

#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/console_globals.h>
#include <spdlog/details/file_helper-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/basic_file_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>
#include <spdlog/spdlog-inl.h>

// fmt: the locale hooks format.h declares extern when the library is not header-only.
namespace fmt {
FMT_BEGIN_DETAIL_NAMESPACE
template FMT_API auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto thousands_sep_impl<wchar_t>(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
template FMT_API locale_ref::locale_ref(const std::locale&);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
FMT_END_DETAIL_NAMESPACE
}  // namespace fmt

// spdlog: the sink templates behind server/log.cpp's sinks and the default logger.
template class spdlog::sinks::base_sink<std::mutex>;
template class spdlog::sinks::base_sink<spdlog::details::null_mutex>;
template class spdlog::sinks::basic_file_sink<std::mutex>;
template class spdlog::sinks::stdout_sink_base<spdlog::details::console_mutex>;
template class spdlog::sinks::stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::stderr_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stderr_sink<spdlog::details::console_mutex>;
