#!/usr/bin/env bash
# jetbroker container entrypoint, shaped like the official nats alpine image's
# docker-entrypoint.sh (nats-io/nats-docker):
#
#   docker run IMAGE                          -> jetbroker --config /etc/jetbroker/jetbroker.conf
#   docker run IMAGE -js -sd /data -m 8222    -> jetbroker --config ... -js -sd /data -m 8222
#   docker run IMAGE nats-server --user a     -> jetbroker --config ... --user a
#   docker run IMAGE jetbroker -DV            -> jetbroker --config ... -DV
#   docker run IMAGE sh -c '...'              -> runs that command instead of the broker
#
# Unlike the nats image, appending flags does not drop the default config: it is loaded
# unless the arguments name a config (-c/--config) or JETBROKER_CONFIG is set to "". Flags
# still win over the file, as in nats-server, so `-m 0` or `-p 4333` work as usual.
#
# Environment (for CI service containers, which cannot pass arguments):
#   JETBROKER_JETSTREAM=true   add -js (also NATS_JETSTREAM; true/1/yes/on/enabled), and
#                              -sd $JETBROKER_STORE_DIR (default /data)
#   JETBROKER_STORE_DIR=DIR    add -sd DIR; set it to "" to keep the config's store_dir
#   JETBROKER_ARGS="-DV ..."   extra flags, split on whitespace, placed before the
#                              command's arguments (so the command's own flags win)
#   JETBROKER_CONFIG=FILE      default config (default /etc/jetbroker/jetbroker.conf)
#   JETBROKER_BIN=PATH         the broker binary (default /usr/local/bin/jetbroker)
# Nothing is added that the arguments already set: -js/-sd/-c given explicitly win.
#
# The broker is exec'd, so it is PID 1 and receives docker's signals directly
# (SIGTERM: graceful stop, SIGUSR2: lame duck, SIGHUP: reload logging, SIGUSR1: reopen log).
set -euo pipefail

bin="${JETBROKER_BIN:-/usr/local/bin/jetbroker}"
config="${JETBROKER_CONFIG-/etc/jetbroker/jetbroker.conf}"

# The broker is asked for by its own name or nats-server's (testcontainers-node passes
# `nats-server --user ...`); bare flags or no arguments mean the broker too.
case "${1-}" in
  nats-server | jetbroker | */nats-server | */jetbroker | "$bin") shift ;;
  -*) ;;
  *) [[ $# -eq 0 ]] || exec "$@" ;;
esac

truthy() {
  case "${1,,}" in
    1 | true | yes | y | on | enable | enabled) return 0 ;;
    *) return 1 ;;
  esac
}

# JETBROKER_ARGS is split on whitespace only: no globbing.
env_args=()
if [[ -n "${JETBROKER_ARGS-}" ]]; then
  set -f
  # shellcheck disable=SC2206  # word splitting is the point
  env_args=(${JETBROKER_ARGS})
  set +f
fi

# has_flag NAME...: true when JETBROKER_ARGS or the command sets -NAME, --NAME, -NAME=v or --NAME=v.
has_flag() {
  local a n
  for a in "${env_args[@]}" "${cmd_args[@]}"; do
    for n in "$@"; do
      case "$a" in -"$n" | --"$n" | -"$n"=* | --"$n"=*) return 0 ;; esac
    done
  done
  return 1
}

cmd_args=("$@")
args=()
if [[ -n "$config" ]] && ! has_flag c config; then
  args+=(--config "$config")
fi
args+=("${env_args[@]}")

store_dir="${JETBROKER_STORE_DIR-}"
if truthy "${JETBROKER_JETSTREAM:-${NATS_JETSTREAM:-}}"; then
  has_flag js jetstream || args+=(-js)
  [[ -n "${JETBROKER_STORE_DIR+set}" ]] || store_dir=/data
fi
if [[ -n "$store_dir" ]] && ! has_flag sd store_dir; then
  args+=(-sd "$store_dir")
fi

exec "$bin" "${args[@]}" "${cmd_args[@]}"
