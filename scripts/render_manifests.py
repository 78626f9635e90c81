"""Write the generated SparkApplication CRD into the Helm chart and the plain manifests.

The CRD is defined once, in ``ember.k8s.crd``; run this after changing it:

    python scripts/render_manifests.py

``--check`` writes nothing and exits 1 when a copy is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ember.k8s import crd

ROOT = Path(__file__).resolve().parent.parent
FILENAME = "sparkapplications.ember.dev.yaml"
TARGETS = (ROOT / "charts" / "ember" / "crds" / FILENAME, ROOT / "manifests" / "crds" / FILENAME)
HEADER = (
    "# Generated from ember.k8s.crd: do not edit.\n"
    "# Regenerate with: python scripts/render_manifests.py\n"
)


def crd_file_text() -> str:
    return HEADER + crd.render_yaml()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report copies that differ")
    args = parser.parse_args(argv)
    text = crd_file_text()
    stale = [path for path in TARGETS if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}\n\nrun: python scripts/render_manifests.py")
        return 1 if stale else 0
    for path in TARGETS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
