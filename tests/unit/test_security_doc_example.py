"""docs/security.md's worked example is what the code signs, so the page cannot drift.

The example key is the published documentation key of `ops@example`; every value the
page shows (the signed bytes, their length and SHA-256, the public key, the key id,
the signature, the envelope) is recomputed here, and the page's own Python and
OpenSSL recipes are run against it. The page's links into itself and other pages'
links into it must name headings that exist.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from payments.contract.signing import signed_message
from payments.tools.contract_docs.examples import TOP_UP, example_signer

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = (DOCS / "security.md").read_text(encoding="utf-8")
SIGNER = example_signer("ops@example")
SIGNED = SIGNER.sign(TOP_UP)
MESSAGE = signed_message(SIGNED)


def code_block(language: str, containing: str) -> str:
    """The one fenced block of `language` whose text holds `containing`."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", PAGE, flags=re.M | re.S)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"expected one ```{language} block with {containing!r}"
    return found[0]


def test_the_page_shows_the_exact_signed_bytes() -> None:
    printable = MESSAGE.decode("utf-8").replace("\n", "\\n")
    assert printable.count("\\n") == 1  # only the context line's line feed
    assert printable in PAGE.splitlines()
    assert f"{len(MESSAGE)} bytes" in PAGE
    assert hashlib.sha256(MESSAGE).hexdigest() in PAGE


def test_the_page_shows_the_key_the_key_id_and_the_signature() -> None:
    assert f"`{base64.b64encode(SIGNER.public_key).decode()}`" in PAGE
    assert f"`{SIGNER.key_id}`" in PAGE
    assert f"`{SIGNED['signature']}`" in PAGE
    assert SIGNER.private_pem().decode("ascii").strip() in PAGE
    assert json.dumps(TOP_UP) in PAGE.splitlines()
    assert json.dumps(SIGNED) in PAGE.splitlines()


def test_the_key_id_is_derived_as_the_page_says() -> None:
    assert SIGNER.key_id == "ed25519:" + hashlib.sha256(SIGNER.public_key).hexdigest()[:32]
    assert base64.b64decode(SIGNED["signature"], validate=True) == SIGNER.private_key.sign(MESSAGE)


def test_the_pages_python_recipe_signs_like_the_engine_expects() -> None:
    namespace: dict[str, Any] = {}
    exec(code_block("python", "def sign(envelope"), namespace)  # the page's own code
    assert namespace["sign"](TOP_UP, SIGNER.private_pem()) == SIGNED
    # Another spelling of the same command (key order) signs the same bytes.
    reordered = dict(reversed(list(TOP_UP.items())))
    assert namespace["sign"](reordered, SIGNER.private_pem())["signature"] == SIGNED["signature"]


def _openssl_3() -> bool:
    if shutil.which("openssl") is None or shutil.which("jq") is None:
        return False
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
    return re.match(r"OpenSSL [3-9]\.", version) is not None


@pytest.mark.skipif(not _openssl_3(), reason="needs OpenSSL 3 and jq")
def test_the_pages_openssl_recipe_gives_the_same_signature(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(SIGNER.private_pem())
    (tmp_path / "command.json").write_text(json.dumps(TOP_UP) + "\n")
    script = code_block("sh", "# sign.sh")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "signed.bin").read_bytes() == MESSAGE
    assert json.loads(done.stdout) == SIGNED


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_into_the_page_names_a_heading() -> None:
    prose = re.sub(r"^```.*?^```$", "", PAGE, flags=re.M | re.S)  # not a shell comment
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", prose, flags=re.M)}
    wanted = set(re.findall(r"\]\(#([\w-]+)\)", PAGE))
    for path in [*DOCS.glob("*.md"), DOCS.parent / "README.md"]:
        wanted |= set(re.findall(r"security\.md#([\w-]+)", path.read_text(encoding="utf-8")))
    assert {"signed-commands", "the-canonical-form", "roles", "database-roles"} <= wanted
    assert sorted(wanted - anchors) == []
