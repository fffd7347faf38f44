"""`perimeter request walk-test|node-config|node-command|pending|approve|refuse`: an operator's
request from a terminal, as the account that makes it.

An installer at the fence with a laptop, or an engineer retuning a node, asks the gateway the
way the dashboard does: over the site's broker, logged in as their own account, on
`P/bridge/request/<account>/<command>` (the broker's ACL lets only that account publish there).
The tool fills in `sent_at` and a fresh nonce, waits for the answer on
`P/bridge/response/<account>/<command>` and prints it. A request that needs a second account
(a walk test, disarming or retuning a node) comes back `pending` with its id; a supervisor
approves it with `perimeter request approve REQUEST_ID` (or on the dashboard).
"""

import argparse
import asyncio
import json
import ssl
import sys
import time
from typing import Any

from gateway.config import GatewayConfig, load
from gateway.outputs import topics
from gateway.tools import frame_tool

TIMEOUT_S = 10.0  # the gateway answers within a second; longer means it or the broker is down


def add_parser(commands: Any) -> None:
    """Register `perimeter request ...`."""
    request = commands.add_parser("request", help="ask the gateway for a walk test, a node config or command, ...")
    actions = request.add_subparsers(dest="action", required=True, metavar="REQUEST")

    walk = actions.add_parser("walk-test", help="a node's detections are tests (no alarm) for a while; 0 ends it")
    walk.add_argument("--node-id", required=True, type=int, help="the node walked along")
    walk.add_argument("--minutes", required=True, type=int, help="how long (0: end the walk test now)")
    walk.set_defaults(command="walk_test", fields=lambda a: {"node_id": a.node_id, "minutes": a.minutes})

    config = actions.add_parser("node-config", help="send a node new settings (a CONFIG downlink)")
    config.add_argument("--node-id", required=True, type=int, help="the node to retune")
    config.add_argument("--heartbeat-s", type=int, help="seconds between heartbeats")
    config.add_argument("--fence-threshold", type=int, help="the fence detector's threshold")
    config.add_argument("--cut-threshold", type=int, help="the cut detector's threshold")
    config.add_argument("--acoustic-snr-db", type=int, help="the drone detector's SNR threshold")
    config.add_argument("--impact-threshold", type=int, help="the impact (ground) detector's threshold")
    config.add_argument("--armed", choices=("yes", "no"), help="no: the node reports nothing until armed again")
    config.set_defaults(command="node_config", fields=_config_fields)

    command = actions.add_parser("node-command", help="ping, reboot or self-test a node")
    command.add_argument("--node-id", required=True, type=int, help="the node")
    command.add_argument("--command", required=True, choices=("ping", "reboot", "self_test"), help="what to do")
    command.set_defaults(command="node_command", fields=lambda a: {"node_id": a.node_id, "command": a.command})

    pending = actions.add_parser("pending", help="the requests waiting for a second account's approval")
    pending.set_defaults(command="pending", fields=lambda a: {})

    approve = actions.add_parser("approve", help="carry out another account's request (a supervisor)")
    approve.add_argument("request_id", help="the id `pending` or the requester was given")
    approve.set_defaults(command="approve", fields=lambda a: {"request_id": a.request_id})

    refuse = actions.add_parser("refuse", help="turn another account's request down (a supervisor)")
    refuse.add_argument("request_id", help="the id `pending` or the requester was given")
    refuse.add_argument("--note", required=True, help="why, for the journal and the requester")
    refuse.set_defaults(command="refuse", fields=lambda a: {"request_id": a.request_id, "note": a.note})

    for action in (walk, config, command, pending, approve, refuse):
        action.add_argument("--config", required=True, metavar="FILE", help="the gateway's TOML config (its broker)")
        action.add_argument("--account", required=True, help="your account (perimeter operator add)")
        action.add_argument("--password-stdin", action="store_true", help="read your password from stdin")
        action.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds to wait for the answer")
        action.set_defaults(handler=run)


def _config_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {"node_id": args.node_id}
    for name in ("heartbeat_s", "fence_threshold", "cut_threshold", "acoustic_snr_db", "impact_threshold"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.armed is not None:
        fields["armed"] = args.armed == "yes"
    if len(fields) == 1:
        raise frame_tool.UsageError("perimeter request node-config needs at least one setting to change")
    return fields


def run(args: argparse.Namespace) -> int:
    config = load(args.config)
    fields = args.fields(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("password for %s: " % args.account)
    answer = asyncio.run(ask(config, args.account, password, args.command, fields, args.timeout))
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0 if answer.get("status") in ("ok", "pending") else 1


async def ask(
    config: GatewayConfig, account: str, password: str, command: str, fields: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """Publish one request as `account` and return the gateway's answer to it."""
    import aiomqtt

    from gateway.alarming.request_guard import fresh

    c = config.mqtt
    prefix = topics.prefix(c.prefix, config.site_name, config.gateway_id)
    tls_context = None
    if c.tls:
        tls_context = ssl.create_default_context(cafile=c.ca_file)
    request = fresh(fields, time.time())
    try:
        async with aiomqtt.Client(
            c.host, c.port, username=account, password=password, tls_context=tls_context, timeout=timeout_s
        ) as client:
            await client.subscribe(topics.response(prefix, account, command), qos=1)
            await client.publish(topics.request(prefix, account, command), json.dumps(request), qos=1)
            async with asyncio.timeout(timeout_s):
                async for message in client.messages:
                    answer = json.loads(bytes(message.payload))
                    if answer.get("nonce") in (None, request["nonce"]):
                        return dict(answer)
    except TimeoutError:
        raise frame_tool.UsageError(
            "no answer from the gateway within %.0f s on %s:%d: is it running?" % (timeout_s, c.host, c.port)
        ) from None
    except aiomqtt.MqttError as exc:
        raise frame_tool.UsageError(
            "cannot ask through the broker at %s:%d as %s: %s" % (c.host, c.port, account, exc)
        ) from None
    raise frame_tool.UsageError("the broker closed the connection before the gateway answered")
