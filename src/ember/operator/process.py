"""``ember operator`` as a child process, against a cluster named by a kubeconfig.

For the places that run the whole Kubernetes flow on the embedded local cluster in one
program: ``make demo``, the spill benchmark's ``--local-cluster`` run and the operator's
end-to-end tests. On a real cluster the operator runs in its own pod (the Helm chart).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class OperatorProcess:
    """One ``ember operator`` process; its output is appended to ``log_path``."""

    def __init__(self, kubeconfig: Path, log_path: Path, *, interval: float = 0.5,
                 env: dict[str, str] | None = None) -> None:
        environment = dict(os.environ, KUBECONFIG=str(kubeconfig),
                           EMBER_OPERATOR_INTERVAL=str(interval), **(env or {}))
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this package
                [sys.executable, "-m", "ember.cli", "operator"], env=environment, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, *, grace: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it has not ended within ``grace`` seconds."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
