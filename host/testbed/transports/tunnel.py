"""A local port forward through an existing SSH connection (like ``ssh -L``), so the agent can
listen on the board's 127.0.0.1 only and needs no open port."""

from __future__ import annotations

import select
import socket
import threading

import paramiko


class Tunnel:
    """Listens on 127.0.0.1:<free port>; every connection is carried to ``remote_port`` on the board."""

    def __init__(self, transport: paramiko.Transport, remote_port: int, remote_host: str = "127.0.0.1") -> None:
        self._transport = transport
        self._remote = (remote_host, remote_port)
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.local_port: int = self._server.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept_loop, name="ssh-tunnel", daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, peer = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer), daemon=True).start()

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        try:
            chan = self._transport.open_channel("direct-tcpip", self._remote, peer, timeout=10)
        except (paramiko.SSHException, OSError):
            conn.close()  # the HTTP client sees a reset and reports the agent as not answering
            return
        try:
            _pump(conn, chan, self._closed)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # either end went away mid-stream (agent restarted, client gave up): the client sees it
        finally:
            chan.close()
            conn.close()

    def close(self) -> None:
        self._closed.set()
        self._server.close()


def _pump(conn: socket.socket, chan: paramiko.Channel, closed: threading.Event) -> None:
    while not closed.is_set():
        readable, _, _ = select.select([conn, chan], [], [], 0.5)
        if conn in readable:
            data = conn.recv(65536)
            if not data:
                return
            chan.sendall(data)
        if chan in readable:
            data = chan.recv(65536)
            if not data:
                return
            conn.sendall(data)
