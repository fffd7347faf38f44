"""What a config allows that an attacker could use, or leaves unsaid: `check-config`'s
warnings (the config is usable; the installer should know)."""

from gateway.config import GatewayConfig


def warnings(config: GatewayConfig) -> list[str]:
    """What the config allows that an attacker could use, or leaves unsaid (check-config)."""
    found = [
        "transport %s takes datagrams from any packet forwarder on the network: name allowed_gateways "
        "(their EUIs) and allowed_sources (their addresses, with :port where it is fixed)" % t.name
        for t in config.semtech_udp
        if not t.allowed_gateways and not t.allowed_sources
    ]
    if not config.transport_names():
        found.append("no transports: the gateway hears no node")
    if not config.nodes:
        found.append("no [[node]]: every node's frames are refused as unknown")
    witnessed = config.witness.syslog or any(w.witness for w in config.webhooks)
    if config.witness.key_file and not witnessed and config.witness.off_host:
        found.append(
            "no witness off this host ([witness] syslog, or a webhook with witness = true): the journal's "
            "checkpoints stay where the host's administrators can rewrite them; say [witness] off_host = false "
            "if that is the site's choice"
        )
    return found
