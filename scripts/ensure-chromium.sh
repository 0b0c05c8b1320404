#!/usr/bin/env bash
# Browser tests need Debian's chromium. Install it when missing and we can (root with apt);
# otherwise warn loudly. With CI=true a missing browser fails the run instead of skipping.
set -u
# The colour emoji font is optional: without it category icons render as empty boxes in screenshots.
want="chromium"
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || want="$want fonts-noto-color-emoji"
if [ -x /usr/bin/chromium ] && [ "$want" = "chromium" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages for the Mini App browser tests: $want"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if apt-get update -qq && apt-get install -y -qq $want >/dev/null; then exit 0; fi
fi
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "${CI:-}" = "true" ]; then
  echo "ERROR: /usr/bin/chromium is missing and could not be installed; CI=true forbids skipping browser tests." >&2
  exit 1
fi
echo "############################################################################" >&2
echo "# WARNING: chromium is not installed and cannot be installed here.         #" >&2
echo "# The Mini App browser tests will be SKIPPED. Install Debian's 'chromium'. #" >&2
echo "############################################################################" >&2
exit 0
