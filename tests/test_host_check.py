"""The host fingerprint: the same bits twice on one host, and it sees a kernel that changes them."""
import json
import os
import subprocess
import sys

import numpy as np

from puertocho.host_check import INPUTS, compare, cpu_description, digest
from tests.conftest import REPO

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw amx_tile
processor\t: 1
model name\t: ignored second core
"""


def test_cpu_description_reads_the_first_core_and_the_vector_flags():
    found = cpu_description(CPUINFO)
    assert found == {"model_name": "Intel(R) Xeon(R) Processor", "vendor": "GenuineIntel", "family_model": "6/143",
                     "flags": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "amx_tile"]}


def test_digest_tells_dtype_and_shape_apart():
    values = np.arange(6, dtype=np.float32)
    assert digest(values) != digest(values.reshape(2, 3)) != digest(values.astype(np.float64))
    assert digest(values) == digest(values.copy())


def test_compare_keeps_pipeline_order_and_says_what_is_inherited():
    mine = {"espeak_ng_wav": "a", "resample_to_16k": "b", "praat_revoice": "c", "piper_synthesis": "d", "only_mine": "e"}
    theirs = {"espeak_ng_wav": "a", "resample_to_16k": "X", "praat_revoice": "Y", "piper_synthesis": "d"}
    assert compare(mine, theirs) == [("resample_to_16k", "b", "X", []),
                                     ("praat_revoice", "c", "Y", ["resample_to_16k"])]
    assert set(INPUTS) <= set(json.loads(next((REPO / "benchmarks" / "fingerprints").glob("*.json")).read_text())["hashes"])


def test_the_fingerprint_repeats_on_one_host_and_sees_pytorchs_scalar_kernels(tmp_path):
    """Two processes on this host: the same bits with the same kernels; ATen's scalar kernels (no AVX) change
    the torch components and nothing that does not run on torch. Its scratch folder goes when it is done."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def run(name, **env):
        out = tmp_path / f"{name}.json"
        subprocess.run([sys.executable, str(REPO / "scripts" / "host_fingerprint.py"), "--against", "--out", str(out)],
                       check=True, capture_output=True, env={**os.environ, "TMPDIR": str(scratch), **env}, cwd=REPO,
                       timeout=600)
        return json.loads(out.read_text())["hashes"]
    best, scalar = run("best"), run("scalar", ATEN_CPU_CAPABILITY="default")
    assert not list(scratch.glob("puertocho-host-*"))
    from puertocho.host_check import fingerprint
    assert fingerprint() == best
    assert {name for name, *_ in compare(best, scalar)} == {"torch_synthetic_rir", "torch_head_training_steps"}
