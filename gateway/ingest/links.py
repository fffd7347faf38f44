"""The receive side a config asks for: its transports, each delivering to one receiver (the
daemon), and the pipeline they feed."""

from gateway.clock import Clock
from gateway.config import GatewayConfig
from gateway.ingest.keyring import Keyring
from gateway.ingest.pipeline import FramePipeline
from gateway.ingest.semtech_udp import SemtechUdpTransport
from gateway.ingest.transports import LoraBridgeTransport, Receiver, SerialTransport, TcpTransport, Transport


def transports_for(config: GatewayConfig, receiver: Receiver, clock: Clock) -> dict[str, Transport]:
    transports: dict[str, Transport] = {}
    for s in config.serial:
        transports[s.name] = SerialTransport(s.name, receiver, s.port, s.baudrate, clock=clock)
    for b in config.lora_bridge:
        transports[b.name] = LoraBridgeTransport(b.name, receiver, b.port, b.baudrate, clock=clock)
    for t in config.tcp:
        transports[t.name] = TcpTransport(t.name, receiver, t.host, t.port, clock=clock)
    for u in config.semtech_udp:
        transports[u.name] = SemtechUdpTransport(u, receiver, clock=clock)
    return transports


def pipeline_for(config: GatewayConfig, keyring: Keyring, last_ctr: dict[int, int]) -> FramePipeline:
    """The pipeline, with the counters the journal last accepted (replays refused across restarts)."""
    radio = [t.name for t in config.lora_bridge] + [t.name for t in config.semtech_udp]
    return FramePipeline(
        keyring,
        config.site_id,
        encrypted=config.encrypted,
        last_ctr=last_ctr,
        dedup_window_s=config.dedup_window_ms / 1000,
        # Several radio receivers may hear one packet: hold it briefly to pick the best reception.
        hold_transports=frozenset(radio) if len(radio) > 1 else frozenset(),
        bad_tag_alarm_count=config.bad_tag_alarm_count,
        bad_tag_alarm_window_s=config.bad_tag_alarm_window_s,
        late_frame_s=config.late_frame_s,
    )
