"""The field reference's pairing (puertocho/reference.py): one voice, two languages, the same condition."""
import numpy as np
import pytest

from puertocho.params import TestParams
from puertocho.reference import english_twin, lowest_threshold_within, paired_plan, paired_table
from puertocho.tts import Utterance


def test_english_twin_keeps_the_voice_and_swaps_the_language():
    espeak = english_twin(Utterance("espeak", "es-419+f4", "Puertocho", rate=150, pitch=40), "Hey Jarvis")
    assert (espeak.voice, espeak.text, espeak.rate, espeak.pitch) == ("en-us+f4", "Hey Jarvis", 150, 40)
    assert english_twin(Utterance("espeak", "es", "Puertocho"), "Hey Jarvis").voice == "en-us"
    piper = english_twin(Utterance("piper", "joe", "Puertocho", options=(("length_scale", 1.1),)), "Hey Jarvis")
    assert piper.voice == "joe" and piper.option("length_scale") == 1.1 and piper.option("espeak_voice") == "en-us"
    kokoro = Utterance("kokoro", "jf_alpha*0.3+jm_kumo*0.7", "Puertocho", options=(("speed", 0.9),))
    assert english_twin(kokoro, "Hey Jarvis").options == (("espeak_voice", "en-us"), ("speed", 0.9))
    with pytest.raises(ValueError, match="gtts"):
        english_twin(Utterance("gtts", "es", "Puertocho"), "Hey Jarvis")


def test_paired_plan_pairs_one_voice_with_both_phrases_and_is_seeded():
    test = TestParams()
    weights = {"espeak": 1.0, "piper": 1.0, "kokoro": 1.0}
    plan = paired_plan(60, 0.5, weights, test, seed=3)
    assert plan == paired_plan(60, 0.5, weights, test, seed=3)
    assert plan != paired_plan(60, 0.5, weights, test, seed=4)
    assert {ours.engine for ours, _, _ in plan} == set(weights)
    for ours, reference, carrier in plan:
        assert "Puertocho" in ours.text and reference.text.startswith("Hey Jarvis")
        assert ("," in reference.text) == carrier
        assert english_twin(ours, reference.text) == reference
        if ours.engine == "espeak":   # the test's held-out variants, never training's
            assert ours.voice.partition("+")[2] in test.espeak_variants


def test_lowest_threshold_within_the_budget():
    counts = {0.5: 9, 0.9: 3, 0.95: 2, 0.99: 0}
    assert lowest_threshold_within(counts.get, counts, hours=4.0, per_hour=0.5) == 0.95
    assert lowest_threshold_within(counts.get, counts, hours=20.0, per_hour=0.5) == 0.5
    assert lowest_threshold_within(lambda t: 5, counts, hours=1.0, per_hour=0.5) == 0.99  # none meets it


def test_paired_table_counts_misses_per_condition_and_the_pairs_only_one_head_missed():
    rows = [{"background": "tv"}, {"background": "tv"}, {"background": "noise"}]
    table = paired_table(rows, np.array([0, 1, 1]), np.array([1, 0, 1]), "background")
    assert table["tv"] == {"utterances": 2, "ours_missed": 0.5, "reference_missed": 0.5,
                           "only_ours_missed": 1, "only_reference_missed": 1}
    assert table["noise"]["ours_missed"] == 0.0 and table["noise"]["utterances"] == 1


def test_paired_difference_is_mcnemars_exact_test():
    from puertocho.reference import paired_difference
    ours = np.array([0] * 10 + [1] * 30)        # 10 missed by ours
    reference = np.array([1] * 10 + [0] * 20 + [1] * 10)   # 20 missed by the reference, none shared
    result = paired_difference(ours, reference)
    assert (result["only_ours_missed"], result["only_reference_missed"]) == (10, 20)
    assert 0.09 < result["p_value"] < 0.11    # two-sided binomial, 10 of 30
    assert paired_difference(ours, ours)["p_value"] == 1.0


def test_field_reference_script_helps_and_names_a_missing_model(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parent.parent
    script = [sys.executable, str(repo / "scripts" / "field_reference.py")]
    assert "hey jarvis" in subprocess.run(script + ["--help"], capture_output=True, text=True, check=True).stdout
    result = subprocess.run(script + ["--head", str(tmp_path / "nowhere.onnx")], capture_output=True, text=True,
                            cwd=repo)
    assert result.returncode != 0 and "nowhere.onnx: no such model" in result.stderr


def test_clean_segment_puts_the_clip_alone_at_the_level():
    from puertocho.reference import clean_segment
    clip = np.sin(np.linspace(0, 300, 8000)).astype(np.float32)
    segment, start, end = clean_segment(clip, gap_seconds=1.0, level_db=-20.0)
    assert (start, end, len(segment)) == (16000, 24000, 16000 + 8000 + 8000)
    assert not segment[:start].any() and not segment[end:].any()
    assert np.sqrt(np.mean(segment[start:end] ** 2)) == pytest.approx(0.1, rel=1e-3)


def test_compare_rules_script_helps():
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "scripts" / "compare_rules.py"
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "McNemar" in shown and "--vad-threshold" in shown
