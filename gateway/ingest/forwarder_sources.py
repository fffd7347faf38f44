"""Where a LoRa packet forwarder may send from: `allowed_sources` entries of a Semtech UDP
transport, read one way by the config and by the transport."""

import ipaddress


def allowed_source(entry: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None]:
    """An allowed_sources entry: an address or network, with a port or without (any port)."""
    host, port = entry, None
    if entry.startswith("["):  # [v6]:port
        host, _, rest = entry[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else None
    elif entry.count(":") == 1:  # v4:port
        host, _, number = entry.partition(":")
        port = int(number)
    return ipaddress.ip_network(host, strict=False), port
