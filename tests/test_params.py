import pytest
import yaml

from puertocho.params import ParamsError, load_params, parse_params
from tests.conftest import REPO


def raw():
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_repository_params_load_with_the_seed_defaults():
    params = load_params(REPO / "params.yaml")
    assert params.model.name == "puertocho_v1"
    assert params.training.batch_size == 8 and params.training.learning_rate == pytest.approx(1e-4)
    assert params.training.epochs == 100
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


def test_exponent_without_dot_is_explained(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("learning_rate: 1.0e-4", "learning_rate: 3e-4")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"'training\.learning_rate' must be a number.*1\.0e-4"):
        load_params(path)


@pytest.mark.parametrize("section,key,value,message", [
    ("model", "head", "transformer", "model.head"),
    ("training", "batch_size", 0, "training.batch_size"),
    ("training", "epochs", 2.5, "training.epochs"),
    ("data", "engines", ["festival"], "data.engines"),
    ("data", "holdout_variants", ["nope"], "data.holdout_variants"),
    ("data", "rate_range", [200, 100], "data.rate_range"),
    ("data", "gtts_required", "yes", "data.gtts_required"),
])
def test_invalid_values_name_their_key(section, key, value, message):
    values = raw()
    values[section][key] = value
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        parse_params(values)


def test_integer_where_float_expected_is_accepted():
    values = raw()
    values["training"]["learning_rate"] = 1
    assert parse_params(values).training.learning_rate == 1.0
