"""The RP2040 image, as it ships, on the rp2040js emulator: it boots, waits unprovisioned at
the USB REPL, and its Thumb kernels give exactly the integers of the viper kernels that the
device specs check on the other builds (so those specs speak for the RP2040 too)."""

from pathlib import Path

from gateway.tools import node_image
from simulators.emulated_pico import EmulatedPico

ROOT = Path(__file__).resolve().parents[2]


def test_the_thumb_kernels_give_the_viper_kernels_integers_on_the_emulated_rp2040() -> None:
    with EmulatedPico(node_image.build("rp2")) as pico:
        booted = pico.console.expect(b"not provisioned", timeout=180)
        pico.raw_repl()
        pico.write_file("on_rp2040.py", (ROOT / "tests" / "device" / "on_rp2040.py").read_bytes())
        report = pico.run("import on_rp2040", timeout=600)
    print(report)
    assert b"no identity.json" in booted
    checks = [line for line in report.splitlines() if line.startswith(("dft ", "fence ", "audio ", "halve ", "dense "))]
    assert len(checks) == 25 and all(line.endswith(" same") for line in checks), report
    costs = {line.split()[1]: int(line.split()[2]) for line in report.splitlines() if line.startswith("cost ")}
    assert costs["dft-thumb"] * 4 < costs["dft-viper"] and costs["fence-thumb"] * 2 < costs["fence-viper"], costs
    for kernel in ("audio", "halve", "dense"):  # (each call's own overhead is a good part of these)
        assert costs[kernel + "-thumb"] * 2 < costs[kernel + "-viper"], costs
