#!/usr/bin/env bash
# System packages the test suite needs (Debian/Ubuntu names), installed only when missing (`make test`
# runs this first). Each package with the tests that need it:
#   openssh-server, openssh-client  a real sshd and ssh-keygen: tests/integration/test_deploy_ssh.py,
#                                   test_agent_install.py, test_lab.py, test_nightly_lab.py, tests/helpers/sshd.py
#   iproute2                        `ip netns`, veths, routes, `ss`: test_lab.py, test_nightly_lab.py (testbed lab up)
#   util-linux                      `unshare --uts`, nsenter, taskset, runuser: test_lab.py, test_store_pg.py
#   python3-venv                    `python3 -m venv` on a "board": test_agent_install.py, test_native_runner.py
#   postgresql                      initdb + pg_ctl for a throwaway cluster: tests/integration/test_store_pg.py,
#                                   test_nightly_*.py with a PostgreSQL store (tests/helpers/postgres.py)
#   redis-server                    a throwaway Celery broker on 127.0.0.1: tests/integration/test_celery_executor.py
#   chromium                        headless render of `testbed report --html`: tests/integration/test_report_html.py
#   g++                             the native ExecuTorch runner: tests/integration/test_native_runner.py; the
#                                   roofline's peak benchmark (testbed_agent/peak): tests/integration/test_peak*.py
#   e2fsprogs                       mkfs.ext4 + debugfs for the arm64 seed disk: tests/unit/test_lab_arm64_parts.py
#   gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static
#                                   the peak benchmark's arm dotprod path, cross-built and run emulated:
#                                   tests/integration/test_peak_arm64_cross.py
# With --arm64 (the emulated aarch64 board, `testbed lab up --arch arm64`, `make test-arm64`) also:
#   qemu-system-arm, qemu-utils      qemu-system-aarch64 and qemu-img
#   qemu-user-static, binfmt-support aarch64 programs in the image's chroot (debootstrap)
#   debootstrap                      the image's root filesystem
# A test that needs one of these and does not find it fails and names this script; it never skips.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; }

if [ "${1:-}" = "--arm64" ]; then
    have qemu-system-aarch64 || missing+=(qemu-system-arm)
    have qemu-img || missing+=(qemu-utils)
    { [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || have qemu-aarch64-static; } || missing+=(qemu-user-static)
    have update-binfmts || missing+=(binfmt-support)
    have debootstrap || missing+=(debootstrap)
fi

have sshd || missing+=(openssh-server)
have ssh-keygen || missing+=(openssh-client)
{ have ip && have ss; } || missing+=(iproute2)
{ have unshare && have nsenter && have runuser; } || missing+=(util-linux)
if have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
have_pg || missing+=(postgresql)
have redis-server || missing+=(redis-server)
{ have chromium || have chromium-browser; } || missing+=(chromium)
have g++ || missing+=(g++)
{ have mkfs.ext4 && have debugfs; } || missing+=(e2fsprogs)
have aarch64-linux-gnu-gcc || missing+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-arm64-cross)
have qemu-aarch64-static || missing+=(qemu-user-static)

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if [ ${#missing[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "missing system packages (${missing[*]}) and this is not a Debian/Ubuntu system: install them by hand" >&2
        exit 1
    fi
    echo "installing ${missing[*]} (system packages the tests need; see scripts/install-system-deps.sh)..." >&2
    $SUDO apt-get update -qq
    # policy-rc.d 101: Debian's postinst scripts must not start a system sshd or PostgreSQL; the tests run their own.
    added_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { [ -n "$added_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d; exit 1; }
    [ -n "$added_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
if [ "${1:-}" = "--arm64" ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    # where no systemd registers them at boot: aarch64 programs need the binfmt_misc handler
    [ -e /proc/sys/fs/binfmt_misc/register ] || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
    $SUDO update-binfmts --enable qemu-aarch64 || true
fi
exit 0
