"""The documentation site builds with `mkdocs build --strict` (a broken link, a missing anchor or a page
missing from the nav fails it), the generated reference pages and the schema are what `docs/gen.py`
makes from the code today, and the README stays a short page that links into the site."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
MKDOCS = str(Path(sys.executable).parent / "mkdocs")


def test_the_site_builds_strictly(tmp_path):
    r = subprocess.run([MKDOCS, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for page in ("reference/configuration", "reference/cli", "reference/http-api", "guides/security",
                 "guides/home-host", "architecture/deviations", "scale"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
    assert (tmp_path / "site" / "screenshots" / "job.png").is_file()


def test_generated_pages_and_schema_are_up_to_date():
    r = subprocess.run([sys.executable, "docs/gen.py", "--check"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr  # names each stale file and the command that writes it again


def test_a_stale_page_is_named_with_the_command_to_regenerate_it(tmp_path):
    """The check compares with what the code makes now: a page edited by hand, or a declaration changed
    without regenerating, is named."""
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import gen
    finally:
        sys.path.remove(str(ROOT / "docs"))
    outputs = gen.outputs()
    config = Path("docs/reference/configuration.md")
    assert "| `pool` | string | `default` |" in outputs[config]            # a default, from targets.COMMON
    assert "| 1 to 65535 |" in outputs[config]                             # a limit, from apps.APP_FIELDS
    assert "## `tahobuddy validate`" in outputs[Path("docs/reference/cli.md")]             # from argparse
    assert "### POST /apps/{name}/deploy" in outputs[Path("docs/reference/http-api.md")]   # from OpenAPI
    for path in outputs:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((ROOT / path).read_text())
    assert gen.stale(tmp_path) == []
    (tmp_path / config).write_text((tmp_path / config).read_text().replace("1 to 65535", "1 to 65536"))
    (tmp_path / "schema" / "tahobuddy.schema.json").unlink()
    assert gen.stale(tmp_path) == [Path("schema/tahobuddy.schema.json"), config]


def test_the_readme_is_short_and_links_into_the_site():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert "docs/architecture/deviations.md" in links and "docs/guides/security.md" in links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing
    assert "## Security: what each credential reaches" in text
