#!/usr/bin/env bash
# System packages the test suite needs: a real OpenSSH server (sshd) for the SSH transport tests,
# and ssh-keygen. Installs Debian's openssh-server only when sshd is missing.
set -euo pipefail

# --- nightly runs (plans, store, reports): PostgreSQL and Chromium, each only when missing -----------
# tests/helpers/postgres.py starts its own throwaway cluster with Debian's initdb/pg_ctl (a system
# cluster the package may start is left alone); tests/integration/test_report_html.py screenshots the
# HTML report with headless Chromium. (Kept above the sshd part, which exits early when sshd exists.)
nightly_missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || nightly_missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || nightly_missing+=(chromium)
if [ "${#nightly_missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then NIGHTLY_SUDO=sudo; else NIGHTLY_SUDO=; fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "${nightly_missing[*]} missing and this is not a Debian/Ubuntu system: install by hand" >&2
        exit 1
    fi
    echo "installing ${nightly_missing[*]} (for the nightly store and report tests)..." >&2
    $NIGHTLY_SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $NIGHTLY_SUDO apt-get install -y -qq --no-install-recommends \
        "${nightly_missing[@]}" >/dev/null
fi
# --- end of the nightly block --------------------------------------------------------------------------

if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "sshd is missing and this is not a Debian/Ubuntu system: install OpenSSH server by hand" >&2
    exit 1
fi
echo "installing openssh-server (for the real-sshd integration tests)..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
# Debian's package may start a system sshd on port 22; the tests use their own, so leave it alone.
