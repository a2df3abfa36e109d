"""Network namespaces for virtual boards, in the test range 198.18.0.0/15 only (RFC 2544).

Safety rules (docs/fleet.md):

* an ``unreachable`` route for the whole range exists before any namespace does, so a packet for
  a lab address that has no veth (any more) is dropped here instead of leaving the machine;
* each board is one namespace with one veth pair: ``<board ip>/30`` inside (``eth0``), the host end
  outside; the kernel's connected route for the /30 is the only more specific route;
* a namespace has no default route: a board talks to this host and nothing else;
* a board is taken off the network from inside its namespace only (``ip -n NS link set eth0 down``);
  the host end is never set down (that would drop its route), only deleted at teardown;
* everything is found again by name (``tb-<lab>-b<i>``, ``tb<lab>h<i>``) and removed at `lab down`.

Concurrent labs (several TESTBED_HOMEs, parallel test runs) pick distinct /24s and serialise their
route changes with a lock; the range's ``unreachable`` route goes when the last lab goes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import shutil
import subprocess
from pathlib import Path

from ..errors import ConfigError, TestbedError
from ..filelock import exclusive

RANGE = ipaddress.IPv4Network("198.18.0.0/15")
LOCK_FILE = Path("/run/testbed-lab.lock")


class LabError(TestbedError):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("ip") or "/usr/sbin/ip"
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise LabError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def locked() -> contextlib.AbstractContextManager[None]:
    """Serialise route and namespace changes between labs on this machine."""
    return exclusive(LOCK_FILE)


def check_tools() -> None:
    """ConfigError naming what is missing for a lab on this machine."""
    import os

    if os.geteuid() != 0:
        raise ConfigError("`testbed lab` needs root (it creates network namespaces, veths and routes)")
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux"), ("ssh-keygen", "openssh-client")):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise ConfigError(f"`testbed lab` needs `{tool}`: apt-get install {package} "
                              "(or bash scripts/install-system-deps.sh)")
    if ip("netns", "list", check=False).returncode != 0:
        raise ConfigError("`ip netns` does not work here (no permission to create network namespaces?)")


def namespaces() -> set[str]:
    out = ip("netns", "list", check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def links() -> set[str]:
    out = ip("-o", "link", "show", check=False).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


def range_routes() -> list[str]:
    """Routes inside 198.18.0.0/15 (the lab range), as ``ip route`` prints them."""
    out = ip("route", "show", "root", str(RANGE), check=False).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def used_subnets() -> set[ipaddress.IPv4Network]:
    """The /24s of the lab range that have a route or an address on this machine."""
    used: set[ipaddress.IPv4Network] = set()
    for line in range_routes():
        dest = line.split()[0] if not line.startswith("unreachable") else line.split()[1]
        net = ipaddress.ip_network(dest, strict=False)
        if net.prefixlen >= 24:
            used.add(ipaddress.IPv4Network(f"{net.network_address}/24", strict=False))
    for addr in _range_addresses():
        used.add(ipaddress.IPv4Network(f"{ipaddress.ip_interface(addr).ip}/24", strict=False))
    return used


def ensure_unreachable_route() -> bool:
    """Add ``unreachable 198.18.0.0/15`` unless present; True when this call added it."""
    if any(r.startswith(f"unreachable {RANGE}") for r in range_routes()):
        return False
    exact = [r for r in range_routes() if r.split()[0] == str(RANGE)]
    if exact:
        raise LabError(f"a route for {RANGE} exists that is not 'unreachable' ({exact[0]}); refusing to build a lab")
    ip("route", "add", "unreachable", str(RANGE))
    return True


def remove_unreachable_route_if_unused() -> bool:
    """Drop the range's unreachable route when no lab uses the range any more (call under ``locked``):
    no other route inside the range and no address of the range on any interface."""
    routes = range_routes()
    if any(not r.startswith("unreachable") for r in routes) or _range_addresses():
        return False
    if any(r.startswith(f"unreachable {RANGE}") for r in routes):
        ip("route", "del", "unreachable", str(RANGE), check=False)
        return True
    return False


def _range_addresses() -> list[str]:
    out = ip("-o", "-4", "addr", "show", check=False).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            addr = ipaddress.ip_interface(parts[parts.index("inet") + 1])
            if addr.ip in RANGE:
                found.append(str(addr))
    return found


def pick_subnet() -> ipaddress.IPv4Network:
    """A free /24 of the range (call under ``locked``)."""
    used = used_subnets()
    free = [n for n in RANGE.subnets(new_prefix=24) if n not in used]
    if not free:
        raise LabError(f"no free /24 left in {RANGE}")
    return random.choice(free)


def board_addresses(subnet: ipaddress.IPv4Network, index: int) -> tuple[str, str]:
    """(host end, board end) of board ``index`` (1-based): the /30 number ``index - 1`` of the /24."""
    if not 1 <= index <= 63:
        raise ConfigError("a lab has 1 to 63 boards")
    base = int(subnet.network_address) + 4 * (index - 1)
    return str(ipaddress.ip_address(base + 1)), str(ipaddress.ip_address(base + 2))


def add_board(netns: str, veth: str, peer: str, host_ip: str, board_ip: str, host_netns: str | None = None) -> None:
    """A namespace with ``eth0`` = ``board_ip/30`` (created as ``peer``, renamed inside), and its
    veth peer ``veth`` = ``host_ip/30`` on this host, or inside the lab host namespace ``host_netns``
    (then only that namespace reaches the board)."""
    ip("netns", "add", netns)
    ip("link", "add", veth, "type", "veth", "peer", "name", peer, "netns", netns)
    ip("-n", netns, "link", "set", peer, "name", "eth0")
    ip("-n", netns, "addr", "add", f"{board_ip}/30", "dev", "eth0")
    ip("-n", netns, "link", "set", "lo", "up")
    ip("-n", netns, "link", "set", "eth0", "up")
    where: tuple[str, ...] = ()
    if host_netns is not None:
        ip("link", "set", veth, "netns", host_netns)
        where = ("-n", host_netns)
    ip(*where, "addr", "add", f"{host_ip}/30", "dev", veth)
    ip(*where, "link", "set", veth, "up")


def add_lab_host(netns: str) -> None:
    """A lab host's namespace: loopback only until its boards' veth ends move in; no default route."""
    ip("netns", "add", netns)
    ip("-n", netns, "link", "set", "lo", "up")


def remove_board(netns: str, veth: str) -> None:
    """Delete the namespace (its veth pair goes with it) and, if it is still there, the host end."""
    if netns in namespaces():
        ip("netns", "del", netns, check=False)
    if veth in links():
        ip("link", "del", veth, check=False)


def set_board_link(netns: str, up: bool) -> None:
    """Take a board off the network, or back on, from inside its namespace (never the host end)."""
    ip("-n", netns, "link", "set", "eth0", "up" if up else "down")


def netns_pids(netns: str) -> list[int]:
    out = ip("netns", "pids", netns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]
