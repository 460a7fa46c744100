from __future__ import annotations

import os
import re

from agent.environment import cpu_slug, describe, device_key


def test_describe_this_machine():
    env = describe("onnxruntime", 1)
    for key in ("cpu_model", "cores", "governor", "memory_mb", "os", "kernel", "python", "runtime",
                "runtime_version", "threads", "delegate", "device_key"):
        assert key in env
    assert env["cores"] >= 1 and env["memory_mb"] > 0 and env["runtime_version"]
    assert re.fullmatch(r"cpu-[a-z0-9-]+-onnxruntime-t1", env["device_key"])
    assert describe("onnxruntime", 1)["device_key"] == env["device_key"]  # stable
    assert describe("litert", 4)["device_key"].endswith("-litert-t4")


def test_cpu_slugs():
    epyc_vm = {"model name": "AMD EPYC", "cpu family": "26", "model": "2"}
    assert cpu_slug(epyc_vm) == "amd-epyc-f26-m2"
    intel = {"model name": "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", "cpu family": "6", "model": "142"}
    assert cpu_slug(intel) == "intel-core-i7-8650u"
    pi5 = {"Hardware": "BCM2835", "Model": "Raspberry Pi 5 Model B Rev 1.0", "CPU part": "0xd0b"}
    assert cpu_slug(pi5) == "raspberry-pi-5-model-b-0xd0b"
    pi4 = {"Hardware": "BCM2835", "Model": "Raspberry Pi 4 Model B Rev 1.4", "CPU part": "0xd08"}
    assert cpu_slug(pi4) == "raspberry-pi-4-model-b-0xd08"
    assert device_key("litert", 2, "gpu", epyc_vm) == "cpu-amd-epyc-f26-m2-litert-t2-gpu"
    assert device_key("litert", 2, "xnnpack", epyc_vm) == "cpu-amd-epyc-f26-m2-litert-t2"


def test_cpu_busy_fractions_from_proc_stat():
    import time

    from agent.environment import cpu_busy, cpu_times

    before = cpu_times()
    assert before and set(before) == set(range(os.cpu_count()))
    end = time.process_time() + 0.3
    while time.process_time() < end:  # keep one CPU busy
        pass
    busy = cpu_busy(before, cpu_times())
    assert busy and all(0.0 <= v <= 1.0 for v in busy.values()) and sum(busy.values()) >= 0.5
    assert cpu_busy(None, before) is None and cpu_busy(before, before) is None
