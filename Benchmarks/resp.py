"""RESP helpers for the benchmark load generators: encode a command, and a blocking
RESP2/RESP3 connection that reads whole replies (plain sockets, no client library)."""
import socket


def encode(*words):
    out = [b"*%d\r\n" % len(words)]
    for w in words:
        b = w if isinstance(w, bytes) else str(w).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Connection:
    """A RESP2 connection: send bytes, read whole replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pos = 0

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf = self.buf[self.pos:] + data
        self.pos = 0

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self._fill()

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            value = self.buf[self.pos:self.pos + n]
            self.pos += n + 2
            return value.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if kind == b"_":
            return None
        raise RuntimeError("unexpected reply %r" % line)

    def call(self, *words):
        self.sock.sendall(encode(*words))
        return self.reply()

    def expect_ok(self, n):
        """Reads n replies that must all be +OK (fast path: compare bytes)."""
        want = 5 * n
        while len(self.buf) - self.pos < want:
            self._fill()
        chunk = self.buf[self.pos:self.pos + want]
        if chunk == b"+OK\r\n" * n:
            self.pos += want
            return
        for _ in range(n):
            if self.reply() != "OK":
                raise RuntimeError("a write was not acknowledged")
