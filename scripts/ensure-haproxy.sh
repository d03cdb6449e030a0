#!/bin/sh
# Install Debian's haproxy for the load-balancer test (tests/browser/test_load_balancer.py)
# when it is missing; the test runs deploy/haproxy.cfg with it, as a deployment does.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] && exit 0
if [ "$(id -u)" = "0" ]; then
    run=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run="sudo -n"
else
    echo "haproxy is missing and cannot be installed without root; the load-balancer test" \
         "will be skipped (and fail under CI=true). Install it with: apt-get install haproxy" >&2
    exit 0
fi
echo "Installing Debian's haproxy for the load-balancer test…" >&2
$run apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive $run apt-get install -y -qq --no-install-recommends haproxy >/dev/null
# The package starts its own service where systemd runs; the test starts its own balancer.
