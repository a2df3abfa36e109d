#!/usr/bin/env bash
# System packages the test suite needs (Debian/Ubuntu names), installed only when missing:
#   openssh-server, openssh-client  a real sshd for the SSH transport and virtual-lab tests; ssh-keygen
#   iproute2                        `ip netns`, veths, routes, `ss` (virtual lab: testbed lab up)
#   util-linux                      `unshare --uts` (a lab board's own hostname), nsenter, taskset
#   python3-venv                    `python3 -m venv` on a "board" (testbed agent install)
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

have sshd || missing+=(openssh-server)
have ssh-keygen || missing+=(openssh-client)
{ have ip && have ss; } || missing+=(iproute2)
{ have unshare && have nsenter; } || missing+=(util-linux)
if have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing system packages (${missing[*]}) and this is not a Debian/Ubuntu system: install them by hand" >&2
    exit 1
fi
echo "installing ${missing[*]} (for the sshd, agent-install and virtual-lab tests)..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's openssh-server may start a system sshd on port 22; the tests use their own, so leave it alone.
