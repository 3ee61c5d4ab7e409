"""Networks on the CPU with ONNX Runtime: an ONNX graph exported once and kept in the cache.

Weights ship as torch's (or, for dlib's recognition network, as dlib's file). The first run on
a machine exports a network to an ONNX graph and keeps it in the user's cache
(`~/.cache/faceanon/onnx`), named by the weights' digest; later runs load the graph without
torch. A graph is written under a temporary name and renamed, so a concurrent run never reads
half a file; where the cache cannot be written, the graph serves the run from memory; a cached
graph that does not load is exported again.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .weights import user_cache_dir

OPSET = 17


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime, or the export to it, is not available here (the caller uses torch)."""


def cache_folder() -> Path:
    return user_cache_dir() / "onnx"


def export_module(model: Any, example: Any, output: str) -> bytes:
    """`model` (a torch module in eval mode) as an ONNX graph with input `x` and the one
    output `output`, the first dimension dynamic."""
    import torch

    buffer = io.BytesIO()
    options = {
        "input_names": ["x"],
        "output_names": [output],
        "dynamic_axes": {"x": {0: "n"}, output: {0: "n"}},
        "opset_version": OPSET,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        try:
            torch.onnx.export(model, example, buffer, dynamo=False, **options)
        except TypeError:  # torch before 2.5 has no `dynamo` switch (and no other exporter)
            torch.onnx.export(model, example, buffer, **options)
        except Exception as error:  # the exporter raises many kinds; torch then runs it
            raise OnnxUnavailable(f"the ONNX export failed: {error}") from error
    return buffer.getvalue()


def cached_graph(path: Path, export: Callable[[], bytes], fresh: bool = False) -> bytes:
    """The graph at `path`, or (none there, or `fresh`) `export()`ed now and stored there."""
    try:
        if not fresh:
            return path.read_bytes()
    except OSError:
        pass
    graph = export()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        partial.write_bytes(graph)
        partial.replace(path)
    except OSError:
        pass  # a read-only cache: the graph serves this run from memory
    return graph


def cpu_session(path: Path, export: Callable[[], bytes], threads: int | None, what: str) -> Any:
    """An ONNX Runtime session on the CPU for the graph cached at `path` (made by `export`
    when missing or damaged); `threads`: its threads (None: one a core). Raises
    `OnnxUnavailable` where ONNX Runtime is missing or cannot load `what`."""
    try:
        import onnxruntime
    except ImportError as error:
        raise OnnxUnavailable(f"onnxruntime is not installed: {error}") from error
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # idle threads sleep instead of spinning: the face work shares the cores with the
    # detector and the codecs
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    for fresh in (False, True):  # a cached graph that does not load is made again
        graph = cached_graph(path, export, fresh)
        try:
            return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # a damaged graph, a runtime too old for it
            failure = error
    raise OnnxUnavailable(f"ONNX Runtime cannot load {what}: {failure}")
