"""`perimeter site init --region`: what an installer at a prison runs with the files the region
gave them (its CA, the site's certificate and key, the cluster's addresses)."""

import io
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import load
from region import pki

PASSWORD = "a long test password\n"


@pytest.fixture
def region_files(tmp_path: Path) -> Path:
    pki.new_ca(tmp_path / "ca")
    pki.issue(tmp_path / "ca", tmp_path / "hmp-north", "hmp-north")
    return tmp_path


def init(tmp_path: Path, files: Path, *extra: str, name: str = "hmp-north") -> int:
    sys.stdin = io.StringIO(PASSWORD)
    try:
        return main(["site", "init", str(tmp_path / "etc"), "--name", name, "--supervisor", "alice", "--password-stdin",
                     "--state-dir", str(tmp_path / "state"), "--no-off-host-witness",
                     "--region-broker", "region-a.example:8883", "--region-broker", "10.20.0.2:8883",
                     "--region-ca", str(files / "ca" / "ca.pem"), "--region-cert", str(files / "hmp-north.pem"),
                     "--region-key", str(files / "hmp-north.key"), *extra])  # fmt: skip
    finally:
        sys.stdin = sys.__stdin__


def test_site_init_writes_a_one_way_tls_bridge_of_the_sites_incidents_and_turns_the_stream_on(
    tmp_path: Path, region_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(tmp_path, region_files, "--region-origin=-2.2,53.4") == 0
    etc = tmp_path / "etc"
    bridge = (etc / "broker" / "conf.d" / "region.conf").read_text().splitlines()
    assert "address region-a.example:8883 10.20.0.2:8883" in bridge
    assert "topic perimeter/hmp-north/+/incidents out 1" in bridge  # out only: nothing comes back
    assert [line for line in bridge if line.startswith("topic")] == [
        "topic perimeter/hmp-north/+/incidents out 1",
        "topic perimeter/hmp-north/+/plan out 1",  # the site on the region's map
    ]
    assert "cleansession false" in bridge and "bridge_certfile %s" % (etc / "region" / "site.pem") in bridge
    assert "include_dir %s" % (etc / "broker" / "conf.d") in (etc / "broker" / "mosquitto.conf").read_text()
    assert (etc / "region" / "site.key").stat().st_mode & 0o777 == 0o600
    region = load(etc / "gateway.toml").region
    assert region.incidents and region.origin == (-2.2, 53.4) and not region.share_staff_names


def test_another_sites_certificate_or_a_missing_file_is_refused_and_nothing_is_written(
    tmp_path: Path, region_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(tmp_path, region_files, name="hmp-south") == 2
    assert "the certificate is for hmp-north, not this site (hmp-south)" in capsys.readouterr().err
    assert not (tmp_path / "etc").exists()
    (region_files / "hmp-north.key").unlink()
    assert init(tmp_path, region_files) == 2
    assert "--region-key: cannot read" in capsys.readouterr().err
    assert init(tmp_path, region_files, "--region-origin", "53.4") == 2
    assert "--region-origin: expected LON,LAT" in capsys.readouterr().err


def test_check_config_says_when_the_regions_incidents_would_have_no_place(
    tmp_path: Path, region_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(tmp_path, region_files) == 0  # no --region-origin, a plan in metres
    capsys.readouterr()
    main(["gateway", "check-config", "--config", str(tmp_path / "etc" / "gateway.toml")])
    assert "the plan is not on the map: set [region] origin_lon and origin_lat" in capsys.readouterr().out
