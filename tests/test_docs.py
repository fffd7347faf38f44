"""The documentation is a site that builds without a warning, its configuration reference is
the schema's (every key, never stale), and the README stays a front page: what the project
is, the two commands, and links."""

import re
import subprocess
import sys
from pathlib import Path

from gateway import config_reference
from gateway.config_schema import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_the_docs_site_builds_strict(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


def test_every_page_is_in_the_navigation_and_no_title_is_an_issue_number() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in sorted(DOCS.glob("*.md")):
        assert ": %s" % page.name in nav, "%s is not in mkdocs.yml's nav" % page.name
        for heading in re.findall(r"^#+ .*$", page.read_text(), re.M):
            assert not re.search(r"\(issue \d+", heading), "%s: %s" % (page.name, heading)


def test_the_configuration_reference_is_the_schemas_and_lists_every_key() -> None:
    assert config_reference.main(["--check"]) == 0, "run: python -m gateway.config_reference"
    page = config_reference.PAGE.read_text()
    sections = re.split(r"^## ", page, flags=re.M)
    for table in SCHEMA:
        header = "`[[%s]]`" % table.name if table.array else "`[%s]`" % table.name
        (section,) = [s for s in sections if s.startswith(header)]
        for key in table.keys:
            assert "| `%s` |" % key.name in section, "%s.%s is not in the reference" % (table.name, key.name)


def test_the_readme_is_a_front_page_that_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    first_block = readme.split("```")[1]
    assert "scripts/demo.sh" in first_block and "scripts/test.sh" in first_block
    for linked in re.findall(r"\]\(([^)#]+)\)", readme):
        if not linked.startswith("http"):
            assert (ROOT / linked).exists(), linked
    assert (ROOT / "LICENSE").exists() and (ROOT / "SECURITY.md").exists()
    assert "gateways before nodes" in (ROOT / "CHANGELOG.md").read_text()
