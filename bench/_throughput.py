"""The two ends of bench/plot.ts's throughput runs, plain TCP programs (run preloaded for
the preloaded path).

  _throughput.py sink PORT
      listens on 127.0.0.1:PORT (0: any), prints the port, then for each connection reads
      to EOF and answers with the byte count (8 bytes, big-endian) before closing.
  _throughput.py writer HOST PORT SIZES TOTALS REPEAT
      for each size (comma-separated bytes, with its total from TOTALS) and each repeat:
      connects, writes TOTAL bytes in writes of SIZE, half-closes, waits for the count,
      and prints {"size", "bytes", "seconds"} (from connected to the count's arrival).
"""
import json
import socket
import struct
import sys
import time


def sink(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    print(server.getsockname()[1], flush=True)
    buffer = bytearray(1 << 20)
    while True:
        conn, _ = server.accept()
        total = 0
        try:
            while True:
                n = conn.recv_into(buffer)
                if n == 0:
                    break
                total += n
            conn.sendall(struct.pack(">Q", total))
        except OSError:
            pass
        conn.close()


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def writer(host, port, sizes, totals, repeat):
    for size, total in zip(sizes, totals):
        chunk = memoryview(b"z" * size)
        for _ in range(repeat):
            infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.settimeout(120)
            sock.connect(address)
            started = time.monotonic()
            sent = 0
            while sent < total:
                sock.sendall(chunk[: min(size, total - sent)])
                sent += min(size, total - sent)
            sock.shutdown(socket.SHUT_WR)
            (got,) = struct.unpack(">Q", read_exact(sock, 8))
            seconds = time.monotonic() - started
            sock.close()
            if got != total:
                raise SystemExit("the sink got %d of %d bytes" % (got, total))
            print(json.dumps({"size": size, "bytes": total, "seconds": seconds}), flush=True)


if sys.argv[1] == "sink":
    sink(int(sys.argv[2]))
else:
    writer(
        sys.argv[2],
        int(sys.argv[3]),
        [int(s) for s in sys.argv[4].split(",")],
        [int(t) for t in sys.argv[5].split(",")],
        int(sys.argv[6]),
    )
