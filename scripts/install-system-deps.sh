#!/usr/bin/env bash
# System packages the test suite needs: a real OpenSSH server (sshd) for the SSH transport tests,
# and ssh-keygen. Installs Debian's openssh-server only when sshd is missing.
set -euo pipefail
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
