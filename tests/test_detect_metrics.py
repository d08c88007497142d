import numpy as np
import pytest

from puertocho.detect import detection_events
from puertocho.metrics import (OperatingPoint, Utterance, choose_threshold, classification_scores,
                               count_per_utterance, operating_point)


def test_one_utterance_gives_one_detection_within_the_refractory_window():
    scores = np.zeros(100)
    scores[10:18] = 0.9      # one utterance, 8 frames above threshold
    scores[60:62] = 0.9      # a second, later one
    assert detection_events(scores, 0.5, 1, 25).tolist() == [10, 60]
    assert detection_events(scores, 0.5, 1, 0).tolist() == list(range(10, 18)) + [60, 61]


def test_patience_needs_consecutive_frames():
    scores = np.array([0, 0.9, 0, 0.9, 0.9, 0.9, 0, 0])
    assert detection_events(scores, 0.5, 3, 10).tolist() == [5]
    assert detection_events(scores, 0.5, 4, 10).tolist() == []


def test_operating_point_counts_false_accepts_per_hour_and_rejects():
    hour = int(3600 / 0.08)
    negative = np.zeros(hour)
    negative[[1000, 5000, 20000]] = 0.95         # three false accepts in one hour
    positive = np.zeros(200)
    positive[12] = 0.99                           # utterance 1 detected once
    positive[60:80] = 0.99                        # utterance 2 detected, long run -> one event
    positive[83] = 0.99                           # ... and again after the refractory: a double
    utterances = [Utterance(5, 10), Utterance(55, 62), Utterance(150, 160)]  # the third is missed
    point = operating_point(0.5, negative, positive, utterances, 1, 20, 25)
    assert point.false_accepts == 3 and point.false_accepts_per_hour == pytest.approx(3.0)
    assert point.false_reject_rate == pytest.approx(1 / 3)
    assert point.multi_detections_per_utterance == pytest.approx(1 / 3)
    assert point.mean_latency_seconds == pytest.approx(((12 - 10) + (60 - 62)) * 0.08 / 2)
    assert count_per_utterance(np.array([12, 60, 81]), utterances, 25).tolist() == [1, 2, 0]


def test_choose_threshold_meets_the_false_accept_target_with_fewest_rejects():
    points = [OperatingPoint(t, fa, 0, frr, 1, 0, 0) for t, fa, frr in
              [(0.3, 2.0, 0.01), (0.5, 0.4, 0.03), (0.7, 0.1, 0.08), (0.9, 0.0, 0.2)]]
    assert choose_threshold(points, 0.5).threshold == 0.5
    assert choose_threshold(points, 0.05).threshold == 0.9
    plateau = [OperatingPoint(t, fa, 0, 0.0, 1, 0, 0) for t, fa in [(0.3, 0.9), (0.5, 0.4), (0.6, 0.2), (0.7, 0.0),
                                                                     (0.8, 0.0)]]
    assert choose_threshold(plateau, 0.5).threshold == 0.6  # the middle of 0.5 .. 0.8
    impossible = [OperatingPoint(t, fa, 0, frr, 1, 0, 0) for t, fa, frr in [(0.5, 3.0, 0.1), (0.9, 1.0, 0.4)]]
    assert choose_threshold(impossible, 0.5).threshold == 0.9


def test_classification_scores():
    labels = np.array([1, 1, 0, 0, 0], np.float32)
    probabilities = np.array([0.9, 0.2, 0.8, 0.1, 0.0])
    scores = classification_scores(labels, probabilities, 0.5)
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)
