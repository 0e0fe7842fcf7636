"""``cdk-native-python cache`` (``cachecmd.py``): ``cache verify`` re-hashes what a stat cannot see."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cdk_native_python.engine import build
from cdk_native_python.store.local import LocalStore
from tests.helpers import build_request, write_function


def test_cache_verify_rehashes_what_stat_cannot_see(tmp_path: Path, wheel_index: Any) -> None:
    """Same size, same mtime, other bytes: the cheap check cannot see it, `cache verify` does."""
    store = LocalStore(tmp_path / "cache")
    build(build_request(write_function(tmp_path, "purepkg\n"), wheel_index), tmp_path / "out1", store)
    (entry,) = (store.root / "trees").iterdir()
    path = entry / "tree" / "purepkg" / "__init__.py"
    st = os.stat(path)
    data = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(bytes(len(data)) if data else b"")
    os.chmod(path, st.st_mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "cache", "--cache-dir", str(store.root),
                          "verify"], capture_output=True, text=True, check=False)
    if data:
        assert out.returncode == 1 and "quarantined trees/" in out.stdout and "other contents" in out.stdout
        assert not entry.exists()
    else:
        assert out.returncode == 0
