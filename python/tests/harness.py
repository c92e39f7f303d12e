"""A private dbus-daemon (the Rust tests' configuration, tests/bus/session.conf) and the real
toolcalld binary (target/debug, built by `cargo test`) with a bundle from model/bundles, for
the Python tests. Both are stopped when the test ends."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLCALLD = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "toolcalld"
HOME_TOOLS = (ROOT / "engine/tests/fixtures/home_tools.json").read_text()


class Service:
    """A bus and a toolcalld on it, serving `bundle` with `config`."""

    def __init__(self, test: unittest.TestCase, bundle: str = "tiny", config: str = "", faults: bool = False):
        if not TOOLCALLD.exists():
            raise unittest.SkipTest(f"{TOOLCALLD} missing: cargo build --workspace first")
        self.dir = Path(tempfile.mkdtemp(prefix="toolcall-py-"))
        if not os.environ.get("TOOLCALL_KEEP_TEST_FILES"):
            test.addCleanup(shutil.rmtree, self.dir, True)
        socket = self.dir / "bus.sock"
        bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={ROOT / 'tests/bus/session.conf'}",
             f"--address=unix:path={socket}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        test.addCleanup(self._stop, bus)
        test.addCleanup(bus.stdout.close)
        self.address = bus.stdout.readline().strip()
        (self.dir / "toolcalld.toml").write_text(config)
        self.log = self.dir / "toolcalld.log"
        log = self.log.open("w")
        test.addCleanup(log.close)
        daemon = subprocess.Popen(
            [str(TOOLCALLD), "--bus", self.address, "--model", str(ROOT / "model/bundles" / bundle),
             "--config", str(self.dir / "toolcalld.toml")],
            stdout=subprocess.DEVNULL, stderr=log,
            env={**{k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")},
                 # The debug build's fault drills (daemon/src/fault.rs): the `test_fault` option.
                 **({"TOOLCALL_TEST_FAULTS": "1"} if faults else {})})
        test.addCleanup(self._stop, daemon)
        deadline = time.monotonic() + 60
        while "serving org.toolcalld.ToolCall1" not in self.log.read_text():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"toolcalld did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    @staticmethod
    def _stop(process: subprocess.Popen) -> None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
