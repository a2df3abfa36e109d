"""The framework baselines ``pytorch`` and ``tensorflow`` as plug-ins, without importing either
framework: their probes on a board without them, their profile sections, the SavedModel packing."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from testbed import profiles
from testbed.converters.tensorflow_savedmodel import pack
from testbed.errors import ConfigError
from testbed_agent.runtimes import get
from testbed_agent.runtimes.tensorflow_rt import unpack, unpack_dir

# A board without torch or TensorFlow: both imports fail as if the packages were not installed.
NO_FRAMEWORKS = """
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'tensorflow'):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _Absent())
import json
from testbed_agent.info import runtime_probes
print(json.dumps({k: v.to_json() for k, v in runtime_probes().items()}))
"""


def test_a_board_without_the_frameworks_lists_them_unavailable_with_the_reason() -> None:
    import json

    out = subprocess.run([sys.executable, "-c", NO_FRAMEWORKS], capture_output=True, text=True, check=True)
    probes = json.loads(out.stdout)
    assert probes["pytorch"] == {"available": False, "version": None,
                                 "reason": "python module torch is not installed; pip install torch "
                                           "(the CPU wheel is enough)"}
    assert probes["tensorflow"] == {"available": False, "version": None,
                                    "reason": "python module tensorflow is not installed; pip install tensorflow-cpu"}
    assert probes["onnxruntime"]["available"]  # the edge runtimes are still there


def test_profile_sections_of_the_baselines(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("id: b\ntransport: local\nruntimes: [pytorch, tensorflow]\n"
                    "runtime_settings:\n  pytorch: {threads: 2}\n  tensorflow: {threads: 3, inter_op_threads: 1}\n")
    prof = profiles.load(str(path))
    assert prof.runtimes == ["pytorch", "tensorflow"]
    assert prof.runtime_settings.for_runtime("pytorch") == (2, {})
    assert prof.runtime_settings.for_runtime("tensorflow") == (3, {"inter_op_threads": 1})
    assert get("tensorflow").check_settings({"inter_op_threads": 1}) == {"inter_op_threads": 1}
    path.write_text("id: b\ntransport: local\nruntime_settings:\n  pytorch: {threads: 0}\n")
    with pytest.raises(ConfigError, match=r"key 'runtime_settings.pytorch': .*pytorch.threads must be an integer >= 1"):
        profiles.load(str(path))
    path.write_text("id: b\ntransport: local\nruntimes: [pytorch, jax]\n")
    with pytest.raises(ConfigError, match=r"key 'runtimes': .*unknown runtime 'jax'; known: .*pytorch, tensorflow"):
        profiles.load(str(path))


def _savedmodel(root: Path) -> Path:
    folder = root / "sm"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.index").write_bytes(b"index")
    return folder


def test_savedmodel_packing_is_reproducible_and_unpacks_once_per_sha(tmp_path: Path) -> None:
    folder = _savedmodel(tmp_path)
    store = tmp_path / "store" / "artifacts"
    store.mkdir(parents=True)
    assert pack(folder, tmp_path / "a.tar") == 2
    (folder / "saved_model.pb").touch()  # a newer mtime: same bytes in the tar
    pack(folder, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    artifact = store / ("ab" * 32)
    artifact.write_bytes((tmp_path / "a.tar").read_bytes())
    assert unpack_dir(artifact) == tmp_path / "store" / "unpacked" / ("ab" * 32)
    target, fresh = unpack(artifact)
    assert fresh and (target / "variables" / "variables.index").read_bytes() == b"index"
    assert unpack(artifact) == (target, False)  # the second load reuses it
    assert unpack_dir(tmp_path / "a.tar") == tmp_path / "a.tar.unpacked"  # a file outside a store


def test_an_unsafe_tar_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="unsafe entry '../escape'"):
        unpack(bad)
    assert not (tmp_path / "escape").exists() and not unpack_dir(bad).exists()
