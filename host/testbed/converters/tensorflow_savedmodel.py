"""The TensorFlow baseline: the Keras model as a SavedModel, run by TensorFlow itself on the board
(runtime ``tensorflow``: ``tf.saved_model.load``). A SavedModel is a folder; the artifact is that
folder packed in one uncompressed tar (sorted entries, no owners or times), so it is addressed by
sha256 and sent like any other artifact; the runtime unpacks it into its cache, once per sha256."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Any

from ._support import import_tensorflow, quiet_stdout
from .base import Converter, ZooModelLike
from .registry import register


@register
class TensorFlowSavedModelFp32(Converter):
    """``keras.Model.export(format="tf_saved_model")`` (endpoint ``serve``), packed as a tar."""

    name = "tensorflow-savedmodel-fp32"
    source = "keras"
    format = "tensorflow"
    quantization = "fp32"
    runtime = "tensorflow"
    layout = "NHWC"
    extension = ".tar"
    modules = ("tensorflow", "keras")
    distributions = ("tensorflow|tensorflow-cpu", "keras")

    def options(self) -> dict[str, Any]:
        """The export API, its endpoint and the packing."""
        return {"api": "keras.Model.export(format='tf_saved_model')", "endpoint": "serve",
                "packing": "tar, uncompressed, sorted, no owners or times", "batch": 1}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Export into a temporary folder, load it back once with TensorFlow, pack it."""
        keras_model = model.keras_model()
        try:
            tf = import_tensorflow()
            with tempfile.TemporaryDirectory(prefix="savedmodel-") as tmp:
                folder = Path(tmp) / "savedmodel"
                with quiet_stdout():
                    keras_model.export(str(folder), format="tf_saved_model", verbose=False)
                tf.saved_model.load(str(folder)).serve  # noqa: B018 - a folder TF cannot load is no artifact
                files = pack(folder, out_path)
        except Exception as exc:
            raise self._fail(exc) from exc
        return {"savedmodel_files": files}


def pack(folder: Path, out_path: Path) -> int:
    """Write ``folder``'s content to the tar ``out_path`` (paths relative to ``folder``, sorted,
    owners and times zeroed: the same folder gives the same bytes); the number of files."""
    count = 0
    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if path.is_file():
                count += 1
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return count
