"""A local port forward through an existing SSH connection (like ``ssh -L``), so the agent can
listen on the board's 127.0.0.1 only and needs no open port.

Shutdown order matters: ``close()`` stops accepting, wakes every connection being served and waits
for its thread to close its SSH channel *before* the caller closes the SSH connection. Closing a
channel sends a message on the connection; were the connection closed first, paramiko would raise
``EOFError`` from the serving thread (a traceback on stderr after a clean command). A channel whose
connection is already gone (the board dropped) is closed quietly too: there is nobody to tell.
"""

from __future__ import annotations

import select
import socket
import threading
import time

import paramiko

#: How long ``close()`` waits for the serving threads to close their channels.
CLOSE_TIMEOUT_S = 5.0


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
        self._lock = threading.Lock()
        self._serving: dict[threading.Thread, socket.socket] = {}  # thread -> its client connection
        self._acceptor = threading.Thread(target=self._accept_loop, name="ssh-tunnel", daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, peer = self._server.accept()
            except OSError:
                return
            with self._lock:
                if self._closed.is_set():
                    conn.close()
                    return
                thread = threading.Thread(target=self._serve, args=(conn, peer), name="ssh-tunnel-conn",
                                          daemon=True)
                self._serving[thread] = conn
                thread.start()

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        chan: paramiko.Channel | None = None
        try:
            chan = self._transport.open_channel("direct-tcpip", self._remote, peer, timeout=10)
            _pump(conn, chan, self._closed)
        except (OSError, EOFError, paramiko.SSHException):
            # no channel (the HTTP client sees a reset and reports the agent as not answering), or
            # either end went away mid-stream (agent restarted, client gave up): the client sees it
            pass
        finally:
            if chan is not None:
                close_channel(chan)
            conn.close()
            with self._lock:
                self._serving.pop(threading.current_thread(), None)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop accepting, end every forwarded connection and wait until their channels are closed."""
        with self._lock:
            self._closed.set()
            serving = dict(self._serving)
        _shutdown(self._server)  # wakes accept() (closing alone does not on Linux)
        self._server.close()
        for conn in serving.values():
            _shutdown(conn)  # wakes the pump's select(): the connection reads as ended
        deadline = time.monotonic() + timeout_s
        for thread in [self._acceptor, *serving]:
            thread.join(max(0.0, deadline - time.monotonic()))


def close_channel(chan: paramiko.Channel) -> None:
    """Close ``chan``; when its SSH connection is already gone there is nobody to tell: no error."""
    try:
        chan.close()
    except (EOFError, OSError, paramiko.SSHException):
        pass


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected, or already closed


def _pump(conn: socket.socket, chan: paramiko.Channel, closed: threading.Event) -> None:
    watched: list[socket.socket | paramiko.Channel] = [conn, chan]  # a Channel has fileno(): select() takes it
    while not closed.is_set():
        readable, _, _ = select.select(watched, [], [], 0.5)
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
