"""init check: succeeds as soon as HOST PORT accepts a TCP connection."""
import socket
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
while True:
    try:
        socket.create_connection((host, port), timeout=1).close()
        print(f"{host}:{port} is accepting connections")
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
