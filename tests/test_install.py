"""What a security office installs: `pip install .` without extras gives a working
`perimeter gateway` (numpy is the simulators' alone, in the `[sim]` extra); the simulators'
commands plug into the same `perimeter` command and, without their extra, say what to install.

Each spec runs the console script's entry point in a fresh interpreter in which numpy
cannot be imported, as on a machine that never installed it."""

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from tests.gateway.harness import write_site

WITHOUT_NUMPY = (
    "import sys; sys.modules['numpy'] = None; "  # `import numpy` now raises ImportError
    "from gateway.cli import main; sys.exit(main(sys.argv[1:]))"
)


def perimeter_without_numpy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_NUMPY, *args], capture_output=True, text=True, timeout=60)


def test_the_console_script_is_the_gateways_with_the_simulators_plugged_in() -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["perimeter"] == "gateway.cli:main"
    plugged = {e.value for e in entry_points(group="perimeter.commands")}
    assert plugged == {"simulators.cli:add_commands", "region.cli:add_commands"}


def test_the_gateway_commands_work_without_numpy(tmp_path: Path) -> None:
    config = write_site(tmp_path, 1883)
    checked = perimeter_without_numpy("gateway", "check-config", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert "(site test" in checked.stdout
    assert perimeter_without_numpy("gateway", "config-template").stdout.startswith("#")
    assert perimeter_without_numpy("frame", "check-vectors").returncode == 0
    daemon = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['numpy'] = None; import gateway.daemon"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert daemon.returncode == 0, daemon.stderr  # what `perimeter gateway run --config` runs


def test_a_simulation_without_the_sim_extra_names_the_extra_to_install() -> None:
    scenario = Path(__file__).resolve().parents[1] / "simulators" / "scenarios" / "demo.toml"
    ran = perimeter_without_numpy("sim", "run", str(scenario))
    assert ran.returncode == 2
    assert ran.stderr.strip() == (
        "perimeter: the simulators need numpy: pip install 'perimeter[sim]' (or scripts/setup.sh)"
    )
    demo = perimeter_without_numpy("demo")
    assert demo.returncode == 2 and demo.stdout == "" and demo.stderr == ran.stderr


def test_the_regions_commands_without_the_region_extra_name_the_extra_to_install() -> None:
    without = "import sys; sys.modules['asyncpg'] = None; from gateway.cli import main; sys.exit(main(sys.argv[1:]))"
    ran = subprocess.run([sys.executable, "-c", without, "region", "pattern", "--db", "postgresql://x@127.0.0.1/x",
                          "--from", "2026-11-01T00:00Z", "--to", "2026-12-01T00:00Z"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert ran.returncode == 2
    assert ran.stderr.strip() == (
        "perimeter region pattern: the region needs asyncpg: pip install 'perimeter[region]' (or scripts/setup.sh)"
    )
