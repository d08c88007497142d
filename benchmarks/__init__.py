"""Benchmarks: what each pipeline stage costs on this machine, and what the detector costs on one core.

Run from the repository root with the venv active:

    python -m benchmarks                    # tts, features, training, streaming, dvc_status
    python -m benchmarks --quick            # tiny sizes (what tests/test_benchmarks.py runs)
    python -m benchmarks --only repro       # opt-in: a whole `dvc repro` from scratch in a clone (slow)

Every timing is the median of --repeats runs after a warm-up. Results go to a table on stdout and to
metrics/bench.json (--out). Nothing here asserts a timing: the "aim" lines report measured values against
the project's aims and leave the judgement to the reader.
"""
