"""A program that fails on purpose, to show a FAILED SparkApplication and its retries.

It prints one line and exits with code 3; the driver pod fails with that exit code.

In the ember image: local:///opt/ember/examples/k8s/fail.py
"""

import sys

EXIT_CODE = 3


def main() -> None:
    print(f"fail.py: failing on purpose with exit code {EXIT_CODE}", flush=True)
    sys.exit(EXIT_CODE)


if __name__ == "__main__":
    main()
