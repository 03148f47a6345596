"""Time limits for slow and idle clients in gunicorn's threaded worker (the only module that touches its internals).

Stock `gthread` hands every new connection to a worker thread, which waits up to 5 s for a first byte and then
reads the request head and body with blocking reads and no time limit. A few connections that send nothing
occupy every thread for those seconds, and a client that trickles one byte of a header (or of a body) every few
seconds holds its thread for as long as it likes: with `threads` such connections the server answers nobody
(slowloris). `scripts/bench_slowloris` measures it.

`timed_worker_class(header_timeout, request_timeout)` returns a subclass that:

- keeps a connection in the worker's poller, not in a thread, until its request head has arrived (request line
  and headers, read without blocking as bytes come in) together with a body of up to 64 KiB (every form of the
  site); only then does a thread take it. The head must be complete within `header_timeout` seconds of the
  connect (or of a kept-alive connection waking up), the whole request within `request_timeout`; otherwise the
  connection is closed without having held a thread (after `408 Request Timeout` when part of a request came);
- reads a larger body in the thread until the `request_timeout` deadline; a late body ends early (the app
  answers 400) and the connection closes;
- gives each write of the answer `request_timeout` seconds (a client that does not read its answer);
- closes a connection after its last answer without waiting for the client to close first (gunicorn waits up
  to 2 s in the worker's event loop, so clients that never close stalled everyone else).

Kept-alive connections wait in the poller and are closed after `keepalive` seconds, as in stock gunicorn.
Everything this relies on is checked by `supported()`; where a gunicorn release lacks any of it, the server
falls back to stock `gthread` with a warning instead of failing.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import time
from collections import deque
from functools import partial

log = logging.getLogger(__name__)

# The attributes of gunicorn's ThreadWorker the subclass uses; checked before it is used.
_WORKER_METHODS = ("accept", "handle", "handle_request", "on_client_socket_readable", "on_pending_socket_readable",
                   "murder_pending", "enqueue_req")
_TIMEOUT_TEXT = b"De aanvraag kwam niet op tijd binnen.\n"
_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_TEXT), _TIMEOUT_TEXT))
HEAD_LIMIT = 64 * 1024  # gunicorn refuses longer heads anyway (limit_request_line, _fields, _field_size)
BODY_LIMIT = 64 * 1024  # bodies up to this size are read in the poller; larger ones by the thread


class TimedSocket(socket.socket):
    """A client socket whose reads stop at a deadline and whose writes each have a time limit.

    After the deadline a read that would have to wait returns b"" (end of stream) and marks the socket
    `expired`: gunicorn's parser then sees a client that went away, and the worker closes the connection.
    What the client already sent is still read, so a request that merely waited for a free thread is served.
    """

    def __init__(self, sock: socket.socket, write_timeout: float) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.write_timeout = write_timeout
        self.started = time.monotonic()  # connect, or the moment a kept-alive connection woke up
        self.deadline: float | None = None
        self.expired = False
        self.in_request = False  # the head was read: the app is reading the body or answering
        self.buffered = b""  # read in the poller, not yet handed to the parser
        self.head_complete = False
        self.closing = False  # the write side is shut: the connection is being closed

    def fill(self) -> bool:
        """Read what has arrived without waiting; True once the request (head, and a body up to BODY_LIMIT) is
        here, or the client closed or sent something a thread should answer (too long, chunked)."""
        try:
            chunk = socket.socket.recv(self, 65536)
        except BlockingIOError:
            return False
        except OSError:
            return True  # the thread's read meets the error and closes
        if not chunk:
            return True
        self.buffered += chunk
        end = self.buffered.find(b"\r\n\r\n")
        if end < 0:
            return len(self.buffered) > HEAD_LIMIT
        self.head_complete = True
        length = _body_length(self.buffered[:end])
        return length is None or length > BODY_LIMIT or len(self.buffered) >= end + 4 + length

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Read as `socket.recv` (first what the poller read), but never wait past the deadline, nor at all once
        the answer is out and the connection closing."""
        if self.buffered:
            data, self.buffered = self.buffered[:bufsize], self.buffered[bufsize:]
            return data
        if self.expired:
            return b""
        if self.closing:
            # gunicorn drains a closing connection in the worker's event loop, waiting up to 2 s for the client
            # to close: a client that never does stalled every other connection that long. Take what is there.
            try:
                super().settimeout(0.0)
                return super().recv(bufsize, flags)
            except OSError:
                return b""
        if self.deadline is None:
            return super().recv(bufsize, flags)
        remaining = self.deadline - time.monotonic()
        try:
            super().settimeout(max(remaining, 0.0))
            return super().recv(bufsize, flags)
        except (TimeoutError, BlockingIOError):
            self.expired = True
            return b""

    def shutdown(self, how: int) -> None:
        """Shut down as `socket.shutdown`; after the write side, reads stop waiting (see recv)."""
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.closing = True
        super().shutdown(how)

    def sendall(self, data, flags: int = 0) -> None:
        """Write as `socket.sendall`, within `write_timeout`; a client too slow to take it is disconnected."""
        super().settimeout(self.write_timeout)
        try:
            super().sendall(data, flags)
        except TimeoutError:
            self.expired = True
            # gunicorn logs a reset connection quietly, a timeout with a traceback; this is the former.
            raise ConnectionResetError(errno.ECONNRESET, f"client did not take the answer within "
                                                         f"{self.write_timeout:g} s") from None

    def sendfile(self, file, offset: int = 0, count: int | None = None) -> int:
        """Send a file as `socket.sendfile` (static files), with the same time limit as `sendall`."""
        super().settimeout(self.write_timeout)
        try:
            return super().sendfile(file, offset, count)
        except TimeoutError:
            self.expired = True
            raise ConnectionResetError(errno.ECONNRESET, f"client did not take the file within "
                                                         f"{self.write_timeout:g} s") from None

    def answer_timeout(self) -> None:
        """Tell the client its request came too late (best effort, never waits)."""
        try:
            super().settimeout(0.0)
            super().send(_TIMEOUT_ANSWER)
        except OSError:
            pass


def _body_length(head: bytes) -> int | None:
    """The body length a head announces (0 without one); None where the thread's parser must decide: chunked
    or another transfer coding, a client waiting for `100 Continue`, several or unreadable Content-Length
    headers. Only decides how long to keep reading in the poller; gunicorn's parser reads the request itself."""
    lengths = []
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name in (b"transfer-encoding", b"expect"):  # Expect: 100-continue: the body waits for gunicorn's 100
            return None
        if name == b"content-length":
            lengths.append(value.strip())
    if not lengths:
        return 0
    if len(lengths) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 12:
        return None
    return int(lengths[0])


def supported() -> bool:
    """True when the installed gunicorn has the threaded-worker internals the subclass relies on."""
    try:
        from gunicorn.workers import gthread
    except ImportError:
        return False
    worker = getattr(gthread, "ThreadWorker", None)
    conn = getattr(gthread, "TConn", None)
    if worker is None or conn is None or not all(callable(getattr(worker, m, None)) for m in _WORKER_METHODS):
        return False
    try:
        import inspect

        return list(inspect.signature(conn.__init__).parameters)[1:5] == ["cfg", "sock", "client", "server"]
    except (TypeError, ValueError):
        return False


def timed_worker_class(header_timeout: float, request_timeout: float) -> type:
    """gunicorn's ThreadWorker with the time limits above (call only when `supported()`)."""
    from gunicorn.workers import gthread

    class TimedThreadWorker(gthread.ThreadWorker):
        """gthread with a poller wait for the first byte and deadlines for the request and each write."""

        _next_sweep = 0.0

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if not hasattr(self, "pending_conns"):  # gunicorn's own since it defers idle connections; ours needs it
                self.pending_conns = deque()

        def accept(self, listener) -> None:
            try:
                client_sock, client_addr = listener.accept()
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            self.nr_conns += 1
            if self.cfg.is_ssl:  # gunicorn wraps the socket itself; TLS belongs to the proxy in front anyway
                client_sock.setblocking(True)
                self.enqueue_req(gthread.TConn(self.cfg, client_sock, client_addr, listener.getsockname()))
                return
            sock = TimedSocket(client_sock, request_timeout)
            conn = gthread.TConn(self.cfg, sock, client_addr, listener.getsockname())  # non-blocking now
            # Wait for the first byte in the poller, not in a thread; murder_pending closes it when the head's
            # time is up. The deque stays sorted by timeout: every entry gets the same delay from its connect.
            self._wait_for_request(conn)

        def _wait_for_request(self, conn) -> None:
            """Park the connection in the poller until its request is here (see on_pending_socket_readable)."""
            conn.timeout = conn.sock.started + header_timeout
            self.pending_conns.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

        def on_pending_socket_readable(self, conn, client) -> None:
            sock = conn.sock
            if not isinstance(sock, TimedSocket) or sock.fill():
                super().on_pending_socket_readable(conn, client)  # hands it to a thread
            elif sock.head_complete:
                conn.timeout = sock.started + request_timeout  # the body may take the rest of the request's time

        def on_client_socket_readable(self, conn, client) -> None:
            if not isinstance(conn.sock, TimedSocket):
                return super().on_client_socket_readable(conn, client)
            # A kept-alive connection's next request starts now; it waits for its bytes in the poller too.
            self.poller.unregister(client)
            self.keepalived_conns.remove(conn)
            conn.sock.started = time.monotonic()
            self._wait_for_request(conn)
            return None

        def murder_pending(self) -> None:
            # Entries have two kinds of deadline (head, whole request), so the deque is not sorted: sweep it,
            # at most four times a second.
            now = time.monotonic()
            if now < self._next_sweep:
                return
            self._next_sweep = now + 0.25
            for conn in [c for c in self.pending_conns if c.timeout <= now]:
                self.pending_conns.remove(conn)
                try:
                    self.poller.unregister(conn.sock)
                except (OSError, KeyError, ValueError):
                    pass
                self.nr_conns -= 1
                if isinstance(conn.sock, TimedSocket) and conn.sock.buffered:
                    conn.sock.answer_timeout()  # part of a request came: say why it ends (an idle one just closes)
                conn.close()

        def handle(self, conn):
            sock = conn.sock
            if not isinstance(sock, TimedSocket):
                return super().handle(conn)
            sock.deadline = sock.started + header_timeout
            try:
                result = super().handle(conn)
                if sock.expired:
                    if not sock.in_request:
                        sock.answer_timeout()  # the head never arrived whole: 408, then close
                    return False
                return result
            finally:
                sock.deadline = None
                sock.in_request = False

        def handle_request(self, req, conn):
            sock = conn.sock
            if isinstance(sock, TimedSocket):
                sock.in_request = True
                sock.deadline = sock.started + request_timeout
            return super().handle_request(req, conn)

    return TimedThreadWorker
