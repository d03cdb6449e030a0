#!/bin/sh
# Start the machine's local PostgreSQL cluster if it is installed but stopped. The tests use
# it for their throwaway databases; under CI=true they fail if it cannot be reached.
command -v pg_isready >/dev/null 2>&1 || exit 0
pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
        sleep 1
    done
fi
echo "PostgreSQL is not reachable at 127.0.0.1:5432; its tests will fail under CI=true." >&2
exit 0
