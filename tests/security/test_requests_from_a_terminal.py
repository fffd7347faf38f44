"""`perimeter request` asks the gateway from a terminal as the account that makes it, through
the site's own broker and ACL: the installer's walk test waits for a supervisor, who approves
it the same way; a wrong password or a stopped broker is one line, not a traceback."""

import asyncio
import json
import sys
from pathlib import Path

from tests.gateway.harness import SimNode
from tests.security.secured_site import PASSWORD, SecuredSite, heard
from tests.security.test_insider import downlinked

PERIMETER = str(Path(sys.executable).with_name("perimeter"))


async def perimeter(*args: str, password: str = PASSWORD) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PERIMETER,
        "request",
        *args,
        "--password-stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate((password + "\n").encode()), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_walk_test_asked_from_a_terminal_runs_once_a_supervisor_approves_it_there(site: SecuredSite) -> None:
    node = SimNode(2)
    await heard(site, node.heartbeat())
    config = ["--config", str(site.config)]
    status, out, err = await perimeter(
        "walk-test", "--node-id", "2", "--minutes", "20", *config, "--account", "e.wright"
    )
    asked = json.loads(out)
    assert status == 0 and asked["status"] == "pending", (out, err)
    assert "COMMAND" not in downlinked(node, site)  # four eyes: nothing sent yet

    request_id = asked["data"]["request_id"]
    status, out, err = await perimeter("approve", request_id, *config, "--account", "m.chief")
    assert status == 0 and json.loads(out)["status"] == "ok", (out, err)
    await asyncio.sleep(0.3)
    assert "COMMAND" in downlinked(node, site)
    assert site.gateway is not None and 2 in site.gateway.recorder.walk_tests
    rows = site.operator_rows()
    assert {(r["operator"], r["command"]) for r in rows} >= {("e.wright", "walk_test"), ("m.chief", "approve")}


async def test_a_request_the_role_may_not_make_or_a_wrong_password_is_a_clear_refusal(site: SecuredSite) -> None:
    config = ["--config", str(site.config)]
    status, out, _ = await perimeter(
        "node-command", "--node-id", "2", "--command", "ping", *config, "--account", "v.brown"
    )
    assert status == 1 and json.loads(out)["status"] == "error"  # a viewer may not; journalled as refused
    status, out, err = await perimeter("pending", *config, "--account", "j.smith", password="guess")
    assert status == 2 and "cannot ask through the broker" in err and "Traceback" not in err, err
