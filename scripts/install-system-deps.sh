#!/usr/bin/env bash
# System packages the test suite needs (Debian/Ubuntu names), installed only when missing:
#   openssh-server, openssh-client  a real sshd for the SSH transport and virtual-lab tests; ssh-keygen
#   iproute2                        `ip netns`, veths, routes, `ss` (virtual lab: testbed lab up)
#   util-linux                      `unshare --uts` (a lab board's own hostname), nsenter, taskset
#   python3-venv                    `python3 -m venv` on a "board" (testbed agent install)
# With --arm64 (the emulated aarch64 board, `testbed lab up --arch arm64`, `make test-arm64`) also:
#   qemu-system-arm, qemu-utils      qemu-system-aarch64 and qemu-img
#   qemu-user-static, binfmt-support aarch64 programs in the image's chroot (debootstrap)
#   debootstrap, e2fsprogs           the image's root filesystem (mkfs.ext4 -d)
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

if [ "${1:-}" = "--arm64" ]; then
    have qemu-system-aarch64 || missing+=(qemu-system-arm)
    have qemu-img || missing+=(qemu-utils)
    { [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || have qemu-aarch64-static; } || missing+=(qemu-user-static)
    have update-binfmts || missing+=(binfmt-support)
    have debootstrap || missing+=(debootstrap)
    have mkfs.ext4 || missing+=(e2fsprogs)
fi

have sshd || missing+=(openssh-server)
have ssh-keygen || missing+=(openssh-client)
{ have ip && have ss; } || missing+=(iproute2)
{ have unshare && have nsenter; } || missing+=(util-linux)
if have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if [ ${#missing[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "missing system packages (${missing[*]}) and this is not a Debian/Ubuntu system: install them by hand" >&2
        exit 1
    fi
    echo "installing ${missing[*]} (for the sshd, agent-install and virtual-lab tests)..." >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's openssh-server may start a system sshd on port 22; the tests use their own, so leave it alone.
fi
if [ "${1:-}" = "--arm64" ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    # where no systemd registers them at boot: aarch64 programs need the binfmt_misc handler
    [ -e /proc/sys/fs/binfmt_misc/register ] || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
    $SUDO update-binfmts --enable qemu-aarch64 || true
fi
