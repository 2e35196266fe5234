#!/usr/bin/env bash
# Container HEALTHCHECK: GET /healthz on the monitoring port and succeed on HTTP 200.
# debian:12-slim has no curl or wget, and installing curl for this would pull in libcurl and
# its TLS stack, so this speaks HTTP/1.0 over bash's /dev/tcp instead.
#
#   jetbroker-healthcheck [PATH]     PATH defaults to /healthz
#                                    (e.g. "/healthz?js-enabled-only=true" to wait for JetStream)
# Environment: JETBROKER_HEALTHCHECK_HOST (127.0.0.1), JETBROKER_HEALTHCHECK_PORT (8222; change
# it when the monitoring port is moved, and expect "unhealthy" when monitoring is off: -m 0).
set -euo pipefail

host="${JETBROKER_HEALTHCHECK_HOST:-127.0.0.1}"
port="${JETBROKER_HEALTHCHECK_PORT:-8222}"
path="${1:-/healthz}"

if ! exec 3<>"/dev/tcp/${host}/${port}"; then
  echo "unhealthy: cannot connect to ${host}:${port}" >&2
  exit 1
fi
printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$path" "$host" "$port" >&3
status=""
IFS=$' \t\r' read -r -t 5 _ code _ <&3 && status="$code"
exec 3<&- 3>&-
if [[ "$status" == 200 ]]; then
  exit 0
fi
echo "unhealthy: GET ${path} on ${host}:${port} returned '${status:-no answer}'" >&2
exit 1
