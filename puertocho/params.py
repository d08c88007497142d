"""Typed, validated access to params.yaml: one dataclass per section, errors that name the key."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML, YAMLError


class ParamsError(ValueError):
    """params.yaml holds a key or value the pipeline cannot use."""


@dataclass(frozen=True)
class Phrase:
    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class EngineWeights:
    """Each engine's share of the wake-phrase clips, relative to the others in data.engines (equal by default)."""
    espeak: float = 1.0
    piper: float = 1.0
    kokoro: float = 1.0
    gtts: float = 1.0


@dataclass(frozen=True)
class ModelParams:
    name: str = "puertocho_v1"
    sample_rate: int = 16000
    frame_length: int = 1280
    n_frames: int = 16
    embedding_dim: int = 96
    head: str = "cnn"
    hidden_size: int = 64
    n_layers: int = 2
    dropout: float = 0.3
    attention_heads: int = 4       # convattn only: hidden_size must be a multiple of it
    ensemble_size: int = 1         # heads trained side by side; the model's logit is their mean

    def check(self, section: str) -> None:
        _require(self.sample_rate == 16000, f"{section}.sample_rate", "openWakeWord only runs at 16000 Hz")
        _require(self.frame_length == 1280, f"{section}.frame_length", "openWakeWord streams 1280-sample chunks")
        _require(self.embedding_dim == 96, f"{section}.embedding_dim", "the embedding model outputs 96 values")
        _require(self.head in ("fc", "cnn", "gru", "convattn"), f"{section}.head",
                 "use one of: fc, cnn, gru, convattn")
        _require(self.n_frames >= 4, f"{section}.n_frames", "use at least 4 frames")
        _require(0.0 <= self.dropout < 1.0, f"{section}.dropout", "use a value in [0, 1)")
        _require(self.hidden_size > 0 and self.n_layers > 0, f"{section}.hidden_size",
                 "hidden_size and n_layers must be positive")
        _require(self.attention_heads >= 1 and self.hidden_size % self.attention_heads == 0,
                 f"{section}.attention_heads", "use 1 or more heads that divide hidden_size")
        _require(isinstance(self.ensemble_size, int) and 1 <= self.ensemble_size <= 16,
                 f"{section}.ensemble_size", "use a whole number of heads from 1 (a single head) to 16")


@dataclass(frozen=True)
class HfSpeechParams:
    """Real speech from a Hugging Face dataset (a hub id, or a local folder of parquet files in the hub's layout).
    Off by default: the default run never touches the network."""
    enabled: bool = False
    required: bool = True          # enabled and unreachable: fail (true) or warn and go on without it (false)
    name: str = "mls"              # source tag: the manifest's engine and the speaker prefix ("mls:<speaker_id>")
    dataset: str = "facebook/multilingual_librispeech"
    config: str = "spanish"
    revision: str = ""             # a git revision of the hub repo ("" = main), e.g. refs/convert/parquet
    data_files: str = ""           # a glob inside the repo ("" = the config's own files)
    split: str = "dev"
    audio_column: str = "audio"
    text_column: str = "transcript"
    speaker_column: str = "speaker_id"
    texts: list[str] = field(default_factory=list)   # keep only rows whose text is one of these ([] = all)
    shuffle_buffer: int = 0        # rows shuffled while streaming, seeded by data.seed (0 = file order)
    max_clips: int = 3000
    max_hours: float = 4.0

    def check(self, section: str) -> None:
        _require(self.max_clips >= 1, f"{section}.max_clips", "use 1 or more")
        _require(self.max_hours > 0, f"{section}.max_hours", "must be positive")
        _require(bool(self.dataset), f"{section}.dataset", "name a hub dataset id or a local folder")
        _require(bool(self.name) and ":" not in self.name, f"{section}.name", "use a short tag without ':'")
        _require(self.shuffle_buffer >= 0, f"{section}.shuffle_buffer", "use 0 or more")
        _require(bool(self.speaker_column), f"{section}.speaker_column",
                 "name the column of speaker ids: splits keep each person on one side")


@dataclass(frozen=True)
class CommonVoiceParams:
    """Common Voice from the Mozilla Data Collective: the extracted language folder (clips/*.mp3 + TSV tables)."""
    dir: str = ""                  # "" = off
    table: str = "validated.tsv"   # or train.tsv: columns client_id, path, sentence
    max_clips: int = 3000
    max_hours: float = 4.0
    max_clips_per_speaker: int = 30

    def check(self, section: str) -> None:
        _require(self.max_clips >= 1, f"{section}.max_clips", "use 1 or more")
        _require(self.max_hours > 0, f"{section}.max_hours", "must be positive")
        _require(self.max_clips_per_speaker >= 1, f"{section}.max_clips_per_speaker", "use 1 or more")
        _require(self.table.endswith(".tsv"), f"{section}.table", "name one of the folder's .tsv tables")


@dataclass(frozen=True)
class SpokenWordsParams:
    """Multilingual Spoken Words Corpus (MLCommons), Spanish: single words as confusable negatives.
    dir is the extracted folder (clips/<word>/*.opus beside the splits CSV); the hub mirror is in `hub`."""
    dir: str = ""                  # "" = off
    table: str = "es_splits.csv"   # SET,LINK,WORD,VALID,SPEAKER,GENDER (or a train.csv without SET)
    words: list[str] = field(default_factory=list)   # [] = every word
    max_clips: int = 2000
    max_hours: float = 1.0
    max_clips_per_speaker: int = 20
    hub: HfSpeechParams = field(default_factory=lambda: HfSpeechParams(
        name="mswc", dataset="MLCommons/ml_spoken_words", config="", revision="refs/convert/parquet",
        data_files="es_wav/partial/train/*.parquet", split="train", text_column="keyword", max_clips=2000,
        max_hours=1.0))

    def check(self, section: str) -> None:
        _require(self.max_clips >= 1, f"{section}.max_clips", "use 1 or more")
        _require(self.max_hours > 0, f"{section}.max_hours", "must be positive")
        _require(self.max_clips_per_speaker >= 1, f"{section}.max_clips_per_speaker", "use 1 or more")


@dataclass(frozen=True)
class PrecomputedNegativesParams:
    """openWakeWord's precomputed negative features: one (n, 16, 96) float .npy, memory-mapped, sampled."""
    path: str = ""                 # "" = off
    train_windows: int = 20000     # windows sampled (seeded) into training, from the file's first part
    validation_windows: int = 2000 # windows sampled into validation, from the file's last data.validation_fraction

    def check(self, section: str) -> None:
        _require(self.train_windows >= 0 and self.validation_windows >= 0, f"{section}.train_windows",
                 "window counts cannot be negative")


@dataclass(frozen=True)
class DataParams:
    seed: int = 42
    phrases: list[Phrase] = field(default_factory=lambda: [Phrase("Puertocho")])
    positive_count: int = 2000
    engines: list[str] = field(default_factory=lambda: ["espeak"])
    engine_weights: EngineWeights = field(default_factory=EngineWeights)
    gtts_required: bool = False
    gtts_tlds: list[str] = field(default_factory=lambda: ["es"])
    voices: list[str] = field(default_factory=lambda: ["es", "es-419"])
    variants: list[str] = field(default_factory=lambda: ["none"])
    kokoro_voices: list[str] = field(default_factory=lambda: ["jf_alpha", "jf_gongitsune", "jf_nezumi",
                                                              "jf_tebukuro", "jm_kumo"])
    voice_transform_probability: float = 0.0
    espeak_random_voice_share: float = 0.0  # of espeak's utterances, spoken by a newly drawn variant (espeak_voices.py)
    neural_speech_share: float = 0.1        # of the sentences, when data.engines has piper/kokoro
    neural_confusable_share: float = 0.5    # of the confusables, likewise
    rate_range: list[float] = field(default_factory=lambda: [120.0, 200.0])
    pitch_range: list[float] = field(default_factory=lambda: [30.0, 70.0])
    confusable_count: int = 300
    confusable_sentence_share: float = 0.0
    speech_count: int = 3000
    lexicon_speech_count: int = 0           # more negative sentences: runs of frequent Spanish words (lexicon.py)
    lexicon_size: int = 20000               # ... drawn from this many of the most frequent words
    noise_count: int = 1500
    noise_seconds_range: list[float] = field(default_factory=lambda: [1.0, 4.0])
    hf_speech: HfSpeechParams = field(default_factory=HfSpeechParams)
    common_voice: CommonVoiceParams = field(default_factory=CommonVoiceParams)
    spoken_words: SpokenWordsParams = field(default_factory=SpokenWordsParams)
    precomputed_negatives: PrecomputedNegativesParams = field(default_factory=PrecomputedNegativesParams)
    real_speech_test_fraction: float = 0.2   # share of real speakers held out of training (test material)
    local_positive_dir: str = ""
    local_negative_dir: str = ""
    local_test_fraction: float = 0.3
    min_clips_per_kind: int = 1
    validation_fraction: float = 0.2
    target_fpr: float = 0.5
    target_fnr: float = 0.05

    def check(self, section: str) -> None:
        _require(len(self.phrases) > 0, f"{section}.phrases", "list at least one wake phrase")
        _require(all(p.weight > 0 for p in self.phrases), f"{section}.phrases", "weights must be positive")
        for name in ("positive_count", "confusable_count", "speech_count", "lexicon_speech_count", "noise_count"):
            _require(getattr(self, name) >= 0, f"{section}.{name}", "counts cannot be negative")
        _require(self.lexicon_size >= 100, f"{section}.lexicon_size", "use 100 or more words (20000 is the default)")
        unknown = sorted(set(self.engines) - {"espeak", "gtts", "piper", "kokoro"})
        _require(not unknown, f"{section}.engines", f"unknown engine {unknown}; use espeak, gtts, piper, kokoro")
        _require(len(self.engines) > 0, f"{section}.engines", "list at least one TTS engine")
        for name in (f.name for f in dataclasses.fields(self.engine_weights)):
            _require(getattr(self.engine_weights, name) > 0, f"{section}.engine_weights.{name}",
                     "use a positive weight (leave an engine out of data.engines to drop it)")
        for name in ("rate_range", "pitch_range", "noise_seconds_range"):
            _check_range(getattr(self, name), f"{section}.{name}")
        _require(len(self.variants) > 0, f"{section}.variants", "list at least one espeak variant ('none' = base)")
        _require(0.0 < self.validation_fraction < 1.0, f"{section}.validation_fraction", "use a value in (0, 1)")
        for name in ("voice_transform_probability", "espeak_random_voice_share", "neural_speech_share",
                     "neural_confusable_share", "confusable_sentence_share"):
            _require(0.0 <= getattr(self, name) <= 1.0, f"{section}.{name}", "use a share in [0, 1]")
        _require(0.0 <= self.real_speech_test_fraction < 1.0, f"{section}.real_speech_test_fraction",
                 "use a value in [0, 1)")


@dataclass(frozen=True)
class AugmentParams:
    seed: int = 7
    copies_per_clip: int = 1
    positive_copies_per_clip: int = 1
    validation_negative_copies: int = 3
    clean_probability: float = 0.2
    snr_db_range: list[float] = field(default_factory=lambda: [0.0, 20.0])
    snr_reference: str = "window"
    reverb_probability: float = 0.5
    rt60_range: list[float] = field(default_factory=lambda: [0.2, 0.9])
    gain_db_range: list[float] = field(default_factory=lambda: [-12.0, 3.0])
    end_offset_range: list[float] = field(default_factory=lambda: [0.0, 0.3])
    speed_range: list[float] = field(default_factory=lambda: [0.9, 1.1])
    talk_after_probability: float = 0.0
    rir_dir: str = ""
    image_source_rooms: int = 0
    babble_backgrounds: int = 0
    music_backgrounds: int = 0
    tv_backgrounds: int = 0
    talk_stream_hours: float = 0.0
    talk_stream_stride_frames: int = 4

    def check(self, section: str) -> None:
        _require(self.copies_per_clip >= 1 and self.validation_negative_copies >= 1, f"{section}.copies_per_clip",
                 "copies_per_clip and validation_negative_copies must be 1 or more")
        _require(self.positive_copies_per_clip >= 1, f"{section}.positive_copies_per_clip", "use 1 or more copies")
        _require(self.speed_range[0] > 0.5 and self.speed_range[1] < 2.0, f"{section}.speed_range",
                 "keep speed factors within (0.5, 2.0)")
        for name in ("snr_db_range", "rt60_range", "gain_db_range", "end_offset_range", "speed_range"):
            _check_range(getattr(self, name), f"{section}.{name}")
        for name in ("image_source_rooms", "babble_backgrounds", "music_backgrounds", "tv_backgrounds"):
            _require(getattr(self, name) >= 0, f"{section}.{name}", "use a count, 0 or more (0 = none)")
        _require(self.talk_stream_hours >= 0, f"{section}.talk_stream_hours", "use hours, 0 or more (0 = off)")
        _require(self.talk_stream_stride_frames >= 1, f"{section}.talk_stream_stride_frames",
                 "use 1 or more frames between kept windows")
        _require(not (self.rir_dir and self.image_source_rooms), f"{section}.image_source_rooms",
                 "set either rir_dir (measured rooms) or image_source_rooms (simulated), not both")
        for name in ("clean_probability", "reverb_probability", "talk_after_probability"):
            _require(0.0 <= getattr(self, name) <= 1.0, f"{section}.{name}", "use a probability in [0, 1]")
        _require(self.snr_reference in ("window", "voice"), f"{section}.snr_reference",
                 "use window (the SNR over the 2 s window) or voice (over the wake phrase or confusable itself)")


@dataclass(frozen=True)
class TrainingParams:
    seed: int = 1234
    batch_size: int = 8
    learning_rate: float = 1.0e-4
    weight_decay: float = 0.01
    epochs: int = 100
    warmup_fraction: float = 0.1
    early_stopping_patience: int = 10
    grad_clip_norm: float = 1.0
    negative_weight: float = 1.0
    # the negatives' weight grows linearly from 1 to negative_weight over this share of the steps (0 = off)
    negative_weight_ramp_fraction: float = 0.0
    loss: str = "bce"                 # bce | focal
    focal_gamma: float = 2.0          # focal only: (1 - p_true)^gamma down-weights windows already right
    # hard-negative mining: after each epoch past warm-up, the top share of training negatives by score weigh
    # hard_negative_weight times more in the next epoch (0 = off)
    hard_negative_share: float = 0.0
    hard_negative_weight: float = 3.0
    # embedding mixup (livekit-wakeword): each training window is blended with another of its batch, labels and
    # loss weights alike, with a share drawn from Beta(mixup_alpha, mixup_alpha) (0 = off)
    mixup_alpha: float = 0.0
    # embedding-channel dropout: in each training window this share of the 96 embedding dimensions is zeroed in
    # all 16 frames (the rest scaled by 1/(1 - share)), so no few dimensions, such as an engine's timbre, can
    # carry the decision (0 = off)
    channel_dropout: float = 0.0
    # loss multiplier of the confusable windows (words, near-misses and sentences with "puerto", "ocho", ...),
    # on top of negative_weight: the drawn espeak voices' false accepts fell on confusable sentences (1 = off)
    confusable_weight: float = 1.0
    keep_checkpoints: int = 3
    selection_metric: str = "val_recall_at_low_false_accepts"
    # the validation negative shares at which recall is averaged for selection (many windows, not three)
    selection_false_accept_shares: list[float] = field(default_factory=lambda: [0.001, 0.003, 0.01])
    average_best: int = 3             # the exported weights: mean of this many best checkpoints after warm-up

    def check(self, section: str) -> None:
        _require(self.batch_size >= 1, f"{section}.batch_size", "use 1 or more")
        _require(self.learning_rate > 0, f"{section}.learning_rate", "must be positive")
        _require(self.epochs >= 1, f"{section}.epochs", "use 1 or more")
        _require(0.0 < self.warmup_fraction < 1.0, f"{section}.warmup_fraction", "use a value in (0, 1)")
        _require(self.early_stopping_patience >= 1, f"{section}.early_stopping_patience", "use 1 or more")
        _require(self.negative_weight > 0, f"{section}.negative_weight", "must be positive")
        _require(0.0 <= self.negative_weight_ramp_fraction <= 1.0, f"{section}.negative_weight_ramp_fraction",
                 "use a share in [0, 1] (0 = no ramp)")
        _require(self.loss in ("bce", "focal"), f"{section}.loss", "use bce or focal")
        _require(self.focal_gamma >= 0, f"{section}.focal_gamma", "use 0 or more (0 = plain BCE)")
        _require(0.0 <= self.hard_negative_share < 1.0, f"{section}.hard_negative_share",
                 "use a share in [0, 1) of the training negatives (0 = off)")
        _require(self.hard_negative_weight >= 1.0, f"{section}.hard_negative_weight", "use 1 or more")
        _require(self.mixup_alpha >= 0, f"{section}.mixup_alpha", "use 0 (off) or a positive Beta shape, e.g. 0.2")
        _require(0.0 <= self.channel_dropout < 1.0, f"{section}.channel_dropout",
                 "use a share in [0, 1) of the embedding dimensions (0 = off)")
        _require(self.confusable_weight > 0, f"{section}.confusable_weight",
                 "must be positive (1 = confusables weigh as other negatives)")
        _require(self.keep_checkpoints >= 1, f"{section}.keep_checkpoints", "use 1 or more")
        _require(self.average_best >= 1, f"{section}.average_best", "use 1 or more (1 = the best checkpoint)")
        _require(len(self.selection_false_accept_shares) > 0
                 and all(0 < share < 1 for share in self.selection_false_accept_shares),
                 f"{section}.selection_false_accept_shares", "list shares in (0, 1), e.g. [0.001, 0.01]")
        _require(self.selection_metric in ("val_loss", "val_recall_at_low_false_accepts"),
                 f"{section}.selection_metric", "use val_loss or val_recall_at_low_false_accepts")


CALIBRATION_POSITIVE_STREAMS = ("plain", "conditions")


@dataclass(frozen=True)
class EvaluateParams:
    pi_threshold: float = 0.75
    refractory_seconds: float = 2.0
    patience_frames: int = 1
    vad_threshold: float = 0.2
    tolerance_seconds: float = 1.0
    # calibration positives: the validation split's wake phrases (training voices), streamed in noise
    calibration_gap_seconds: float = 3.0
    calibration_snr_db_range: list[float] = field(default_factory=lambda: [0.0, 20.0])
    # plain: each calibration phrase dry and near in the validation backgrounds; conditions: each in a drawn
    # condition as the test draws its own (a room, far field, noise / babble / TV / music), from its own rooms
    # and seed, so the calibration sees what rooms and distance cost
    calibration_positive_stream: str = "plain"
    calibration_reverb_probability: float = 0.6
    calibration_far_field_probability: float = 0.3
    calibration_rooms: int = 24
    calibration_rt60_range: list[float] = field(default_factory=lambda: [0.3, 1.2])
    # the runtime rules chosen by the calibration: every pair of these VAD thresholds and patiences gets its own
    # calibrated threshold, and the pair with the fewest calibration misses wins ([] = the fixed value above)
    vad_threshold_choices: list[float] = field(default_factory=list)
    patience_frames_choices: list[int] = field(default_factory=list)
    # the false accepts per hour the calibration aims for (None: data.target_fpr). A few hours of calibration
    # streams measure that rate by a handful of events, and the best of several rule pairs at the edge of its
    # estimate tends to be the luckiest: a stricter aim leaves a margin
    calibration_target_fpr: float | None = None

    def check(self, section: str) -> None:
        _require(0.0 < self.pi_threshold < 1.0, f"{section}.pi_threshold", "use a value in (0, 1)")
        _require(self.patience_frames >= 1, f"{section}.patience_frames", "use 1 or more")
        _require(0.0 <= self.vad_threshold < 1.0, f"{section}.vad_threshold", "use a value in [0, 1) (0 = no VAD)")
        _require(self.calibration_gap_seconds >= 2.0, f"{section}.calibration_gap_seconds",
                 "use 2 seconds or more so utterances do not share a detection window")
        _check_range(self.calibration_snr_db_range, f"{section}.calibration_snr_db_range")
        _require(self.calibration_positive_stream in CALIBRATION_POSITIVE_STREAMS,
                 f"{section}.calibration_positive_stream", f"use one of {', '.join(CALIBRATION_POSITIVE_STREAMS)}")
        for name in ("calibration_reverb_probability", "calibration_far_field_probability"):
            _require(0.0 <= getattr(self, name) <= 1.0, f"{section}.{name}", "use a share in [0, 1]")
        _require(self.calibration_rooms >= 1, f"{section}.calibration_rooms", "use 1 or more")
        _check_range(self.calibration_rt60_range, f"{section}.calibration_rt60_range")
        _require(all(0.0 <= v < 1.0 for v in self.vad_threshold_choices), f"{section}.vad_threshold_choices",
                 "list VAD thresholds in [0, 1) (0 = no VAD), or [] for evaluate.vad_threshold alone")
        _require(all(v >= 1 for v in self.patience_frames_choices), f"{section}.patience_frames_choices",
                 "list patiences of 1 or more, or [] for evaluate.patience_frames alone")
        _require(self.calibration_target_fpr is None or self.calibration_target_fpr > 0,
                 f"{section}.calibration_target_fpr",
                 "use a rate above 0 (false accepts per hour), or null to calibrate to data.target_fpr")


@dataclass(frozen=True)
class TestVoice:
    """A held-out engine and its share of the test positives and speech."""
    engine: str
    weight: float = 1.0          # share of the test positives
    speech_weight: float = 1.0   # share of the test's negative sentences (Kokoro is slow: keep it small)


@dataclass(frozen=True)
class TestParams:
    """The test set (stage make_test): its own seed, voices, texts and conditions; no data.* key shapes it."""
    __test__ = False  # a params section, not a pytest class
    seed: int = 2026
    positive_count: int = 600
    carrier_share: float = 0.5
    voices: list[TestVoice] = field(default_factory=lambda: [TestVoice("espeak")])
    espeak_voices: list[str] = field(default_factory=lambda: ["es", "es-419"])
    espeak_variants: list[str] = field(default_factory=lambda: ["f4", "m6", "pablo", "linda", "klatt3", "croak"])
    kokoro_voices: list[str] = field(default_factory=lambda: ["jf_alpha", "jf_gongitsune", "jf_nezumi",
                                                              "jf_tebukuro", "jm_kumo"])
    voice_transform_probability: float = 0.0
    snr_db_range: list[float] = field(default_factory=lambda: [0.0, 20.0])
    reverb_probability: float = 0.6
    rt60_range: list[float] = field(default_factory=lambda: [0.3, 1.2])
    rooms: int = 24
    far_field_probability: float = 0.3
    positive_gap_seconds: float = 3.0
    backgrounds: list[str] = field(default_factory=lambda: ["noise", "babble", "tv", "music"])
    negative_hours: float = 5.0
    calibration_hours: float = 1.0
    extra_calibration_hours: float = 0.0
    speech_share: float = 0.7
    confusable_share: float = 0.1
    sentence_pool: int = 1500

    def check(self, section: str) -> None:
        _require(self.positive_count >= 1, f"{section}.positive_count", "use 1 or more")
        _require(0.0 <= self.carrier_share <= 1.0, f"{section}.carrier_share", "use a share in [0, 1]")
        _require(len(self.voices) > 0, f"{section}.voices", "list at least one held-out engine")
        unknown = sorted({v.engine for v in self.voices} - {"espeak", "piper", "kokoro", "gtts"})
        _require(not unknown, f"{section}.voices", f"unknown engine {unknown}; use espeak, piper, kokoro or gtts")
        for name in ("snr_db_range", "rt60_range"):
            _check_range(getattr(self, name), f"{section}.{name}")
        for name in ("reverb_probability", "far_field_probability", "voice_transform_probability"):
            _require(0.0 <= getattr(self, name) <= 1.0, f"{section}.{name}", "use a probability in [0, 1]")
        unknown = sorted(set(self.backgrounds) - {"noise", "babble", "tv", "music"})
        _require(not unknown and self.backgrounds, f"{section}.backgrounds",
                 f"use some of: noise, babble, tv, music (got {unknown or 'none'})")
        _require(self.negative_hours > 0 and self.calibration_hours > 0, f"{section}.negative_hours",
                 "negative_hours and calibration_hours must be positive")
        _require(self.extra_calibration_hours >= 0, f"{section}.extra_calibration_hours",
                 "use 0 or more hours (0 = none)")
        _require(0.0 <= self.speech_share and 0.0 <= self.confusable_share
                 and self.speech_share + self.confusable_share <= 1.0, f"{section}.speech_share",
                 "speech_share + confusable_share must stay within [0, 1] (the rest is noise)")
        _require(self.positive_gap_seconds >= 2.0, f"{section}.positive_gap_seconds", "use 2 seconds or more")
        _require(self.rooms >= 1 and self.sentence_pool >= 10, f"{section}.rooms",
                 "rooms must be 1 or more and sentence_pool 10 or more")


@dataclass(frozen=True)
class Params:
    model: ModelParams = field(default_factory=ModelParams)
    data: DataParams = field(default_factory=DataParams)
    augment: AugmentParams = field(default_factory=AugmentParams)
    training: TrainingParams = field(default_factory=TrainingParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    test: TestParams = field(default_factory=TestParams)

    def check(self, section: str) -> None:
        """Rules across sections: the test's voices must stay out of training."""
        shared = sorted(set(self.test.espeak_variants) & set(self.data.variants))
        _require(not shared, "test.espeak_variants",
                 f"{shared} are also training variants (data.variants); a held-out voice must stay out of training")
        # A test engine that also trains (leave-one-engine-out runs) is allowed: evaluate reports its
        # utterances apart from the headline, which keeps only engines training never used.
        held_out = {v.engine for v in self.test.voices} - (set(self.data.engines) - {"espeak"})
        _require(bool(held_out), "test.voices", "every test engine also trains the model (data.engines): "
                 "hold out at least one whole engine, or the headline has nothing left to report on")


def _require(ok: bool, key: str, fix: str) -> None:
    if not ok:
        raise ParamsError(f"params.yaml: invalid value for '{key}': {fix}.")


def _check_range(value: list[float], key: str) -> None:
    _require(len(value) == 2 and value[0] <= value[1], key, "write a range as [low, high] with low <= high")


def _convert(value, hint, key: str):
    """Check one YAML value against a dataclass field's type hint; return it converted."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # X | None: null, or a value of X
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return None if value is None else _convert(value, inner, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"params.yaml: '{key}' must be a list, got {value!r}.")
        (item_hint,) = typing.get_args(hint)
        return [_convert(item, item_hint, f"{key}[{i}]") for i, item in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params.yaml: '{key}' must be true or false, got {value!r}.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"params.yaml: '{key}' must be a whole number, got {value!r}.")
        return value
    if hint is float:
        if isinstance(value, str):
            hint_text = " (remove the quotes to make it a number)" if _looks_numeric(value) else ""
            raise ParamsError(f"params.yaml: '{key}' must be a number, got the string {value!r}{hint_text}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"params.yaml: '{key}' must be a number, got {value!r}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ParamsError(f"params.yaml: '{key}' must be text, got {value!r}.")
        return value
    raise TypeError(f"unsupported params type {hint} for {key}")


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _build(cls, raw, key: str):
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: '{key}' must be a mapping of keys to values, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        where = f"key '{key}.{unknown[0]}'" if key else f"section '{unknown[0]}'"
        raise ParamsError(
            f"params.yaml: unknown {where}; known: {', '.join(sorted(known))}. Fix the spelling or remove it."
        )
    values = {name: _convert(value, hints[name], f"{key}.{name}" if key else name) for name, value in raw.items()}
    built = cls(**values)
    if hasattr(built, "check"):
        built.check(key)
    return built


def parse_params(raw: dict) -> Params:
    """Validate a parsed params.yaml mapping; raise ParamsError naming the first bad key."""
    return _build(Params, raw or {}, "")


def read_yaml(path: str | Path):
    """Plain Python data from a YAML file, read with YAML 1.2 rules like DVC (ruamel.yaml): 1e-4 is a float."""
    return YAML(typ="safe", pure=True).load(Path(path).read_text())


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run the stage from the repository root.")
    try:
        raw = read_yaml(path)
    except YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from error
    return parse_params(raw)
