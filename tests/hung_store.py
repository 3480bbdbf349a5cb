"""A store that hangs: a loopback listener that accepts connections and never answers.

Pointed at nothing, it is the classic hung server (a half-dead host, a black-holed pooler): TCP
connects succeed, then silence. Pointed at a real server (`target`), it relays bytes until `hang()`,
when the connections already open go silent too (what a client with a warm pool sees), and
`heal()` brings it back on the same port, so a test can prove recovery in the same process.
`drop_replies()` is the nastier failure: requests still reach the server and are carried out, but
no answer comes back (a reply lost on the way), until `heal()`.

Every thread here is a daemon, waits at most POLL seconds at a time, and ends with `close()`.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from typing import Optional

POLL = 0.1


class HungStore:
    def __init__(self, target: Optional[int] = None, *, host: str = "127.0.0.1"):
        self.target = target
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._hanging = target is None
        self._dropping = False
        self._closed = False
        self._lock = threading.Lock()
        self._silent: list[socket.socket] = []  # accepted while hanging, or frozen by hang()
        self._relays: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, name=f"hung-store-{self.port}", daemon=True)
        self._thread.start()

    # --- what a test calls ---

    def url(self, scheme: str, path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def hang(self) -> None:
        """From now on nothing is answered, on new connections and on those already open."""
        with self._lock:
            self._hanging = True
        self.freeze()

    def freeze(self) -> int:
        """The connections already open go silent; new ones are relayed (a restored snapshot's
        sockets: the process still holds them, nothing answers on them). How many were frozen."""
        with self._lock:
            frozen = len(self._relays)
            for pair in self._relays:
                self._silent.extend(pair)  # their pumps stop reading; bytes sit unanswered
            self._relays = []
        return frozen

    def drop_replies(self) -> None:
        """From now on requests are relayed and carried out, but their answers are thrown away."""
        with self._lock:
            self._dropping = True

    def heal(self) -> None:
        """Relay again. Connections that went silent are closed: their clients gave up on them."""
        if self.target is None:
            raise RuntimeError("a HungStore without a target cannot heal")
        with self._lock:
            self._hanging = self._dropping = False
            silent, self._silent = self._silent, []
        for sock in silent:
            _close(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            socks = self._silent + [s for pair in self._relays for s in pair]
            self._silent, self._relays = [], []
        _close(self._listener)
        for sock in socks:
            _close(sock)
        self._thread.join(5)

    def __enter__(self) -> HungStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the threads ---

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                ready, _, _ = select.select([self._listener], [], [], POLL)
                if not ready:
                    continue
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            with self._lock:
                if self._hanging or self._closed:
                    self._silent.append(conn)
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                _close(conn)  # the real server is down: the client sees a reset, as it would
                continue
            pair = (conn, upstream)
            with self._lock:
                self._relays.append(pair)
            threading.Thread(target=self._pump, args=pair, daemon=True).start()

    def _frozen(self, pair: tuple[socket.socket, socket.socket]) -> bool:
        with self._lock:
            return self._closed or pair not in self._relays

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        pair = (a, b)
        peers = {a: b, b: a}
        while not self._frozen(pair):
            try:
                ready, _, _ = select.select([a, b], [], [], POLL)
                for sock in ready:
                    if self._frozen(pair):
                        break
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("peer closed")
                    if sock is b and self._dropping:
                        continue  # the server's answer, lost on the way
                    peers[sock].sendall(data)
            except (OSError, ValueError):
                with self._lock:
                    if pair in self._relays:
                        self._relays.remove(pair)
                _close(a)
                _close(b)
                return
        # Frozen: leave both sockets open and silent; heal() or close() closes them.


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# Far above any configured timeout: a call still blocked then is a missing timeout. It only keeps a
# broken build from hanging the suite; it measures nothing.
HANG_LIMIT = 60


def bounded(fn: Callable[[], object], limit: float = HANG_LIMIT):
    """Run fn in a thread; fail (instead of hanging the run) if it has not returned after `limit`."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # surfaced below, in the test's thread
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"the call was still blocked after {limit}s: a store timeout is missing"
    if "error" in box:
        raise box["error"]
    return box["value"]
