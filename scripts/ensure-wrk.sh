#!/usr/bin/env bash
# The HTTP load generator for `make bench`: Debian's wrk. Installed when missing and we can.
set -u
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null && exit 0
fi
echo "wrk is not installed and cannot be installed here: install Debian's 'wrk' to run the HTTP benchmarks." >&2
exit 1
