"""Every MQTT topic the gateway publishes or listens on, named once.

`P` = `<mqtt.prefix>/<site>/<gateway>`; README's MQTT section lists what each carries.
"""


def prefix(base: str, site: str, gateway: str) -> str:
    return "%s/%s/%s" % (base, site, gateway)


def bridge_state(p: str) -> str:
    return p + "/bridge/state"  # retained: online, or offline as the last will


def bridge_info(p: str) -> str:
    return p + "/bridge/info"


def bridge_health(p: str) -> str:
    return p + "/bridge/health"


def bridge_transport(p: str, name: str) -> str:
    return "%s/bridge/transport/%s" % (p, name)


def security_events(p: str) -> str:
    return p + "/bridge/event/security"


def requests(p: str) -> str:
    """The filter operators' requests arrive on (`P/bridge/request/<account>/<command>`: the
    broker's ACL lets only that account publish under its name)."""
    return p + "/bridge/request/+/+"


def request(p: str, account: str, command: str) -> str:
    return "%s/bridge/request/%s/%s" % (p, account, command)


def response(p: str, account: str, command: str) -> str:
    """Where `account` hears the answer to its request (the ACL lets only it read there)."""
    return "%s/bridge/response/%s/%s" % (p, account, command)


def supervisory_events(p: str) -> str:
    """Every start and end of a mask, a walk test or a disarm, as it is carried out."""
    return p + "/bridge/event/supervisory"


def witness(p: str) -> str:
    """The newest signed checkpoint of the journal, retained (gateway/evidence/witness.py)."""
    return p + "/witness/checkpoint"


def incidents(p: str) -> str:
    """The site's incidents for the region (gateway/outputs/incidents.py); bridged over the WAN."""
    return p + "/incidents"


def site_plan(p: str) -> str:
    """The site's plan on the map, at every start, for the region (with `P/incidents`)."""
    return p + "/plan"


def pending(p: str) -> str:
    """The requests waiting for a second account's approval, retained (a JSON list)."""
    return p + "/bridge/pending"


def node_state(p: str, node_id: int) -> str:
    return "%s/node/%d/state" % (p, node_id)


def node_availability(p: str, node_id: int) -> str:
    return "%s/node/%d/availability" % (p, node_id)


def node_event(p: str, node_id: int, kind: str) -> str:
    """`kind`: fence, acoustic, impact, tamper, fault, or supervision."""
    return "%s/node/%d/event/%s" % (p, node_id, kind)


def node_events(p: str, kind: str = "+") -> str:
    """The filter for every node's events (of one kind, or `+` for all)."""
    return "%s/node/+/event/%s" % (p, kind)


def alarm(p: str, alarm_id: str = "") -> str:
    """An alarm's retained topic (with no id: the prefix all of them share)."""
    return "%s/alarm/%s" % (p, alarm_id)


def zone_state(p: str, zone: str) -> str:
    return "%s/zone/%s/state" % (p, zone)


def mask(p: str, zone: str = "") -> str:
    """A zone mask's retained topic (with no zone: the prefix all of them share)."""
    return "%s/mask/%s" % (p, zone)
