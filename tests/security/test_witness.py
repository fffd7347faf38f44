"""Evidence an insider on the gateway host cannot rewrite: the running gateway signs
checkpoints of its journal (Ed25519) to a witness file, a witness webhook and, retained, to
the broker. Then, as
an insider with the journal's SQLite file would: a row rewritten with every later hash
recomputed, and the newest rows deleted, both pass the chain's own check and both fail
`perimeter journal verify --witness`; the untouched journal passes; a forged checkpoint is
told apart from the gateway's."""

import asyncio
import json
import shutil
import socket
import sqlite3
from pathlib import Path

from gateway.cli import main as cli
from gateway.clock import Clock
from gateway.evidence.hashchain import GENESIS, row_hash
from gateway.evidence.journal import Journal
from gateway.evidence.witness import new_key, read_checkpoints, read_private, read_public, sign, signed_by
from tests.gateway.harness import (
    NODES,
    PERIMETER,
    PREFIX,
    Broker,
    Pty,
    SimNode,
    Webhook,
    free_port,
    retained,
    self_signed,
    serial,
    start,
    stop,
    wait_until,
    write_site,
)
from tests.security.secured_site import SecuredSite, heard


def recompute_chain(path: Path) -> None:
    """What an insider does after editing rows: every hash made to hold again."""
    with sqlite3.connect(path) as db:
        prev = GENESIS
        rows = db.execute("SELECT seq, ts, kind, node_id, event_id, data FROM journal ORDER BY seq").fetchall()
        for seq, ts, kind, node_id, event_id, data in rows:
            row = {"seq": seq, "ts": ts, "kind": kind, "node_id": node_id, "event_id": event_id}
            digest = row_hash(prev, dict(row, data=json.loads(data)))
            db.execute("UPDATE journal SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq))
            prev = digest


def verify(journal: Path, witness: Path, key: Path, capsys: object) -> tuple[int, int, str]:
    plain = cli(["journal", "verify", "--journal", str(journal)])
    code = cli(["journal", "verify", "--journal", str(journal), "--witness", str(witness), "--witness-key", str(key)])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    with capsys.disabled():  # type: ignore[attr-defined]
        print(out.strip().splitlines()[-1])  # what the verifier is told, for the record
    return plain, code, out.strip().splitlines()[-1]


async def test_a_rewritten_or_truncated_journal_fails_against_its_witness(
    tmp_path: Path, broker: Broker, capsys: object
) -> None:
    new_key(tmp_path / "witness.key", tmp_path / "witness.pub")
    witness = tmp_path / "witness" / "checkpoints.jsonl"
    witness.parent.mkdir()
    pty = Pty(tmp_path / "ttyFENCE")
    hook_port = free_port()
    cert, key_pem = self_signed(tmp_path)
    hook = Webhook(hook_port, cert, key_pem)  # a collector elsewhere (the SOC's), taking checkpoints
    soc = {"name": "soc", "url": "https://127.0.0.1:%d/" % hook_port, "ca_file": cert.name, "witness": True}
    extra = dict(
        PERIMETER,
        witness={"key_file": "witness.key", "file": str(witness), "every_s": 1},
        integration={"webhook": [dict(soc, actions=[])]},
    )
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=NODES, extra=extra)
    gateway, task = await start(config)
    try:
        node = SimNode(2)
        witnesses = gateway.witnesses
        for peak in (3000, 3100, 3200):  # three climbs, each checkpointed once it is journalled
            before = witnesses.last_seq
            pty.write(node.fence(peak=peak))
            await wait_until(lambda b=before: b < witnesses.last_seq == gateway.journal.head_seq, 15)
        on_broker = await retained(broker.port, PREFIX + "/witness/checkpoint")
        assert list(on_broker.values())[0]["seq"] == gateway.witnesses.last_seq
        await wait_until(lambda: any(c.get("seq") == witnesses.last_seq for c in hook.received), 10)
    finally:
        await stop(gateway, task)
        pty.unplug()
        hook.close()
    checkpoints = read_checkpoints(witness)
    # The stop is checkpointed too (to the file at once; queued for the webhook until the next start).
    assert [c["seq"] for c in hook.received] == [c["seq"] for c in checkpoints[:-1]]
    assert checkpoints[-1]["seq"] == gateway.journal.head_seq
    assert len(checkpoints) >= 3 and checkpoints[-1]["site"] == "test"
    journal, key = gateway.config.journal, tmp_path / "witness.pub"

    plain, code, said = verify(journal, witness, key, capsys)
    assert (plain, code) == (0, 0) and "checkpoints hold, the last at row" in said

    rewritten = tmp_path / "rewritten.sqlite"
    shutil.copy(journal, rewritten)
    with sqlite3.connect(rewritten) as db:  # the first climb was never a climb, says the insider
        db.execute("UPDATE journal SET data = replace(data, '\"climb\"', '\"rattle\"') WHERE kind = 'event'")
    recompute_chain(rewritten)
    plain, code, said = verify(rewritten, witness, key, capsys)
    assert (plain, code) == (0, 1), said  # the chain holds against itself, not against the witness
    assert "is not the row witnessed at" in said and "the journal was rewritten" in said

    truncated = tmp_path / "truncated.sqlite"
    shutil.copy(journal, truncated)
    last = checkpoints[-1]["seq"]
    with sqlite3.connect(truncated) as db:
        db.execute("DELETE FROM journal WHERE seq >= ?", (last - 1,))
    plain, code, said = verify(truncated, witness, key, capsys)
    assert (plain, code) == (0, 1) and "is gone: the journal was truncated" in said, said

    # A checkpoint the insider writes into the witness file with a key of their own is told apart.
    new_key(tmp_path / "mine.key", tmp_path / "mine.pub")
    forged = sign(read_private(tmp_path / "mine.key"), 1, "0" * 64, "2026-11-30T00:00:00Z", "test", "gw")
    with witness.open("a") as f:
        f.write(json.dumps(forged) + "\n")
    plain, code, said = verify(journal, witness, key, capsys)
    assert code == 1 and "not signed by this witness key" in said


class TurnedClock(Clock):
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_a_witness_trimmed_at_its_end_leaves_rows_nobody_witnessed_and_fails(tmp_path: Path, capsys: object) -> None:
    # Before, trimming checkpoints.jsonl after rewriting the journal passed `verify --witness`
    # ("4 checkpoints hold, last at row 5" with 11 rows) (issue 31, point 3).
    new_key(tmp_path / "witness.key", tmp_path / "witness.pub")
    key = read_private(tmp_path / "witness.key")
    clock = TurnedClock(1_800_000_000.0)
    journal = Journal(tmp_path / "journal.sqlite", clock=clock)
    witness = tmp_path / "checkpoints.jsonl"
    lines = []
    for minute in range(6):  # a row a minute, each checkpointed a minute later, as every_s = 60 does
        journal.append("gateway", {"minute": minute})
        journal.commit()
        lines.append(json.dumps(sign(key, journal.head_seq, journal.head, clock.utc_now(), "test", "gw1")))
        clock.t += 60
    journal.close()
    args = ["journal", "verify", "--journal", str(tmp_path / "journal.sqlite"), "--witness", str(witness)]
    args += ["--witness-key", str(tmp_path / "witness.pub"), "--witness-period", "60"]
    witness.write_text("\n".join(lines) + "\n")
    assert cli(args) == 0
    witness.write_text("\n".join(lines[:2]) + "\n")  # the insider keeps the first two
    assert cli(args) == 1
    said = capsys.readouterr().out.strip().splitlines()[-1]  # type: ignore[attr-defined]
    assert "the journal's head (row 6" in said and "240 s past the last witnessed checkpoint (row 2" in said, said
    witness.write_text("\n".join(lines[:5]) + "\n")  # one period and a round behind: what a crash leaves
    assert cli(args) == 0


async def test_site_init_sends_the_checkpoints_off_the_host_or_says_it_does_not(
    site: SecuredSite, collector: socket.socket, tmp_path: Path, capsys: object
) -> None:
    # Before, `site init` set up no witness off the host: the checkpoints stayed where the
    # gateway's administrators could trim or re-sign them (issue 31, point 3).
    assert site.gateway is not None
    await heard(site, SimNode(2).fence(peak=3000))
    datagram, _ = await asyncio.to_thread(collector.recvfrom, 4096)
    assert datagram.startswith(b"<110>perimeter-witness: ")  # local5.info, RFC 3164
    checkpoint = json.loads(datagram.split(b": ", 1)[1])
    assert checkpoint["site"] == "test" and signed_by(checkpoint, read_public(site.folder / "witness.pub"))
    (start_row,) = [e.data for e in site.gateway.journal.entries() if e.kind == "gateway"]
    assert start_row["witnesses_off_host"] == ["syslog 127.0.0.1:%d" % collector.getsockname()[1]]
    # Without a witness named, nothing is written and the installer is told the choices.
    init = ["site", "init", str(tmp_path / "other"), "--name", "x", "--supervisor", "s.jones", "--password-stdin"]
    init += ["--state-dir", str(tmp_path / "other-state")]
    assert cli(init) == 2 and not (tmp_path / "other").exists()
    said = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "--witness-syslog HOST:PORT" in said and "--no-off-host-witness" in said
