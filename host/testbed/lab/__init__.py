"""The virtual lab: stand-in boards on this machine (network namespaces + real sshd). See docs/fleet.md."""
