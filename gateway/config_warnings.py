"""What a config allows that an attacker could use, or leaves unsaid: `check-config`'s
warnings (the config is usable; the installer should know)."""

from gateway.config import GatewayConfig
from gateway.identity.node_keys import NodeKeyStore, NodeKeyStoreError


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
    elif not witnessed and not config.witness.off_host:  # said on purpose, still worth a line
        found.append(
            "no witness off this host, by the site's choice ([witness] off_host = false): whoever administers "
            "this host can rewrite the journal and its checkpoints together"
        )
    if config.region.incidents and config.region.origin is None and not config.perimeter.geographic:
        found.append(
            "[region] incidents are on but the plan is not on the map: set [region] origin_lon and origin_lat "
            "(where the plan's (0, 0) lies), or the region sees this site's incidents without a place"
        )
    found += _site_derived(config)
    return found


def _site_derived(config: GatewayConfig) -> list[str]:
    """Nodes still on the key the site key derives: whoever reads the site key file holds them."""
    path = config.site_keys.node_keys
    if path is None or not config.nodes:
        return []
    try:
        store = NodeKeyStore(path)
    except NodeKeyStoreError as exc:
        return ["%s: the gateway will not start on it" % exc]
    derived = [n.id for n in config.nodes if store.key(n.id) is None]
    if not derived:
        return []
    return [
        "%d of %d nodes (%s) are on keys the site key derives: whoever reads %s holds them; give each its own "
        "with perimeter node deploy --config, or a key change ([site] key_change = true)"
        % (
            len(derived),
            len(config.nodes),
            ", ".join(map(str, derived[:8])) + (", ..." if len(derived) > 8 else ""),
            "the site key file",
        )
    ]
