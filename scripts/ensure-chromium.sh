#!/bin/sh
# Install Debian's Chromium for the browser journeys when it is missing. Playwright cannot
# download its own browsers here, so the tests launch /usr/bin/chromium.
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = "0" ]; then
    run=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run="sudo -n"
else
    echo "Chromium is missing and cannot be installed without root; the browser journeys" \
         "will be skipped (and fail under CI=true). Install it with: apt-get install chromium" >&2
    exit 0
fi
echo "Installing Debian's chromium for the browser journeys…" >&2
$run apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive $run apt-get install -y -qq chromium >/dev/null
