"""profiles.yaml: every override names a params.yaml key, the result validates, and the -S arguments DVC gets
carry the same values."""
import subprocess
import sys

import pytest
from ruamel.yaml import YAML

from puertocho.params import ParamsError, parse_params, read_yaml
from puertocho.profiles import apply_profile, load_profiles, set_arguments
from tests.conftest import REPO


@pytest.mark.parametrize("name", ["tiny", "full"])
def test_each_profile_names_real_keys_and_validates(name):
    base = read_yaml(REPO / "params.yaml")
    overrides = load_profiles()[name]
    params = parse_params(apply_profile(base, overrides))
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        assert getattr(getattr(params, section), key) == value


def test_an_unknown_key_is_refused_by_name():
    with pytest.raises(ParamsError, match="'data.positive_cuont' is not a params.yaml key"):
        apply_profile({"data": {"positive_count": 1}}, {"data.positive_cuont": 5})


def test_apply_leaves_the_base_unchanged():
    base = {"data": {"engines": ["espeak"]}}
    changed = apply_profile(base, {"data.engines": ["espeak", "piper"]})
    assert base == {"data": {"engines": ["espeak"]}} and changed["data"]["engines"] == ["espeak", "piper"]


def test_set_arguments_read_back_as_dvc_reads_them():
    overrides = {"data.engines": ["espeak", "kokoro"], "training.learning_rate": 0.0003, "data.positive_count": 7}
    arguments = set_arguments(overrides)
    assert arguments[::2] == ["-S"] * 3
    for setting in arguments[1::2]:
        key, _, text = setting.partition("=")
        assert YAML(typ="safe", pure=True).load(text) == overrides[key]  # DVC parses -S values as YAML


def test_command_line_prints_the_full_profile_and_refuses_an_unknown_one():
    printed = subprocess.run([sys.executable, "-m", "puertocho.profiles", "full"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    assert printed == set_arguments(load_profiles()["full"])
    unknown = subprocess.run([sys.executable, "-m", "puertocho.profiles", "huge"], cwd=REPO, capture_output=True,
                             text=True)
    assert unknown.returncode != 0 and "no profile 'huge'" in unknown.stderr
