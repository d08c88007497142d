import pytest
import yaml

from puertocho.params import ParamsError, load_params, parse_params
from tests.conftest import REPO


def raw():
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_repository_params_load_with_the_seed_defaults():
    params = load_params(REPO / "params.yaml")
    assert params.model.name == "puertocho_v1"
    assert params.model.n_frames == 24   # frames24 over three seeds (README "Comparing recipes")
    assert params.model.ensemble_size == 3   # ens3-24 over three seeds (README "Comparing recipes")
    assert params.data.engine_weights.espeak == 3.0 and params.data.positive_count == 3333   # esp3, three seeds
    assert params.training.batch_size == 32 and params.training.learning_rate == pytest.approx(2e-4)
    assert params.training.epochs == 30 and params.training.early_stopping_patience == 30
    assert params.data.target_fpr == 0.5 and params.data.target_fnr == 0.05
    assert {"Puertocho", "Hola Puertocho", "Oye Puertocho"} <= {p.text for p in params.data.phrases}


def test_unknown_key_is_named():
    values = raw()
    values["training"]["lerning_rate"] = 0.001
    with pytest.raises(ParamsError, match=r"unknown key 'training\.lerning_rate'"):
        parse_params(values)


def test_unknown_section_is_named():
    values = raw()
    values["trainig"] = {}
    with pytest.raises(ParamsError, match="unknown section 'trainig'"):
        parse_params(values)


def test_exponent_without_dot_reads_as_a_number_like_dvc_reads_it(tmp_path):
    """YAML 1.2, as DVC's ruamel.yaml reads params.yaml: 3e-4 is a float, so the project and
    `dvc params diff` agree about one file."""
    text = (REPO / "params.yaml").read_text().replace("learning_rate: 2.0e-4", "learning_rate: 3e-4")
    assert "learning_rate: 3e-4" in text
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert load_params(path).training.learning_rate == pytest.approx(3e-4)


def test_quoted_number_is_refused_with_the_fix(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("learning_rate: 2.0e-4", "learning_rate: '3e-4'")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"'training\.learning_rate' must be a number.*remove the quotes"):
        load_params(path)


def test_a_test_variant_in_training_is_refused():
    values = raw()
    values["data"]["variants"] = values["data"]["variants"] + ["f4"]
    with pytest.raises(ParamsError, match=r"test\.espeak_variants.*\['f4'\].*stay out of training"):
        parse_params(values)


def test_training_on_every_test_engine_is_refused():
    values = raw()
    values["test"]["voices"] = [{"engine": "piper"}, {"engine": "kokoro"}]
    values["data"]["engines"] = ["espeak", "piper", "kokoro"]
    with pytest.raises(ParamsError, match=r"test\.voices.*hold out at least one whole engine"):
        parse_params(values)
    values["data"]["engines"] = ["espeak", "piper"]  # leave-one-engine-out: allowed, reported apart
    assert parse_params(values).data.engines == ["espeak", "piper"]


@pytest.mark.parametrize("section,key,value,message", [
    ("model", "head", "transformer", "model.head"),
    ("model", "ensemble_size", 0, "model.ensemble_size"),
    ("model", "ensemble_size", 2.0, "model.ensemble_size"),
    ("training", "batch_size", 0, "training.batch_size"),
    ("training", "epochs", 2.5, "training.epochs"),
    ("data", "engines", ["festival"], "data.engines"),
    ("data", "engine_weights", {"espeak": 0.0}, "data.engine_weights.espeak"),
    ("data", "engine_weights", {"festival": 1.0}, "data.engine_weights"),
    ("test", "backgrounds", ["stadium"], "test.backgrounds"),
    ("test", "snr_db_range", [20, 0], "test.snr_db_range"),
    ("augment", "snr_reference", "clip", "augment.snr_reference"),
    ("test", "extra_calibration_hours", -1.0, "test.extra_calibration_hours"),
    ("training", "selection_false_accept_shares", [0.0], "training.selection_false_accept_shares"),
    ("training", "mixup_alpha", -0.5, "training.mixup_alpha"),
    ("training", "channel_dropout", 1.0, "training.channel_dropout"),
    ("training", "confusable_weight", 0.0, "training.confusable_weight"),
    ("data", "rate_range", [200, 100], "data.rate_range"),
    ("data", "gtts_required", "yes", "data.gtts_required"),
    ("evaluate", "calibration_positive_stream", "rooms", "evaluate.calibration_positive_stream"),
    ("evaluate", "calibration_far_field_probability", 1.5, "evaluate.calibration_far_field_probability"),
    ("evaluate", "calibration_rt60_range", [1.2, 0.3], "evaluate.calibration_rt60_range"),
    ("evaluate", "vad_threshold_choices", [0.2, 1.0], "evaluate.vad_threshold_choices"),
    ("evaluate", "patience_frames_choices", [0, 2], "evaluate.patience_frames_choices"),
    ("evaluate", "patience_frames_choices", [1.5], r"evaluate.patience_frames_choices\[0\]"),
    ("evaluate", "calibration_target_fpr", 0.0, "evaluate.calibration_target_fpr"),
    ("evaluate", "calibration_target_fpr", "0.25", "evaluate.calibration_target_fpr"),
])
def test_invalid_values_name_their_key(section, key, value, message):
    values = raw()
    values[section][key] = value
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        parse_params(values)


def test_the_calibration_aim_is_null_by_default_or_a_rate():
    assert parse_params(raw()).evaluate.calibration_target_fpr is None
    values = raw()
    values["evaluate"]["calibration_target_fpr"] = 0.25
    assert parse_params(values).evaluate.calibration_target_fpr == 0.25


def test_integer_where_float_expected_is_accepted():
    values = raw()
    values["training"]["learning_rate"] = 1
    assert parse_params(values).training.learning_rate == 1.0


def test_every_espeak_voice_in_params_speaks():
    # EspeakEngine stops a run on a voice espeak-ng does not have; this catches a misspelt variant in
    # params.yaml here instead of minutes into generate_positive or make_test.
    from puertocho.sources import training_voice_ids
    from puertocho.tts import EspeakEngine, Utterance, espeak_voice_id
    params = load_params(REPO / "params.yaml")
    held_out = [espeak_voice_id(v, variant) for v in params.test.espeak_voices for variant in params.test.espeak_variants]
    engine = EspeakEngine()
    for voice in training_voice_ids(params.data) + held_out:
        assert len(engine.synthesize(Utterance("espeak", voice, "Puertocho"))) > 0, voice
