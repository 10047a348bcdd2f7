"""supervisord's XML-RPC interface, over its unix socket or HTTP."""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.timeout = timeout

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        return _UnixHTTPConnection(self.socket_path, self.timeout)


def supervisor_proxy(server_url: str, timeout: float = 30.0) -> xmlrpc.client.ServerProxy:
    """An XML-RPC proxy for a supervisord URL (`unix:///path.sock` or `http://host:port`)."""
    if server_url.startswith("unix://"):
        transport = _UnixTransport(server_url[len("unix://") :], timeout)
        return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport)
    return xmlrpc.client.ServerProxy(server_url.rstrip("/") + "/RPC2")
