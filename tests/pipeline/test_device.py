"""Device choice and torch's CPU threads."""

from __future__ import annotations

import sys

import pytest
import torch

from pipeline import device
from pipeline.device import device_kind, resolve_device, torch_threads
from pipeline.errors import InputError


def test_auto_is_the_cpu_without_a_gpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


def test_unknown_or_missing_devices_are_input_errors():
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_torch_threads_apply_inside_the_block_only():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("a failure inside")
    assert torch.get_num_threads() == before


def test_device_kind_asks_torch_only_where_a_gpu_may_be(monkeypatch):
    def no_torch(name):
        raise AssertionError("torch asked")

    monkeypatch.setattr(device, "resolve_device", no_torch)
    monkeypatch.setattr(device, "nvidia_driver_present", lambda: False)
    assert device_kind("auto") == "cpu" and device_kind("cpu") == "cpu"
    with pytest.raises(InputError, match="unknown device"):
        device_kind("tpu")
    monkeypatch.setattr(device, "nvidia_driver_present", lambda: True)
    monkeypatch.setattr(device, "resolve_device", lambda name: torch.device("cpu"))
    assert device_kind("auto") == "cpu"  # a driver but no usable GPU: torch's answer counts


def test_torch_threads_is_a_no_op_without_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch")
    with torch_threads(1):
        pass
