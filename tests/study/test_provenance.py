"""Which code and which evaluator a study's cells came from, and the notes that say so."""

from ncvqvae.study.provenance import code_label, code_note, evaluator_label, evaluator_note


def test_labels_read_a_cells_metrics_and_tolerate_older_cells():
    raw = {"code": {"commit": "abc", "modified": True}, "evaluator": {"digest": "d1", "test_accuracy": 0.9}}
    assert code_label(raw) == "abc+modified" and evaluator_label(raw) == "d1"
    assert code_label({}) == "unrecorded" and evaluator_label({"evaluator": {"test_accuracy": 0.9}}) == ""


def test_notes_appear_only_when_cells_differ():
    assert code_note(["a", "a"]) == ""
    assert "2 code versions: a (2 cells), b (1 cells)" in code_note(["a", "a", "b"])
    same = [("ECG200", "d1"), ("ECG200", "d1"), ("CBF", "d2"), ("CBF", "")]
    assert evaluator_note(same) == ""  # a cell without a digest is not evidence of a second one
    note = evaluator_note([*same, ("CBF", "d3"), ("TwoLeadECG", "d4")])
    assert "cells of CBF (2 evaluators) were scored by different evaluator FCNs" in note
    assert "ECG200" not in note and "TwoLeadECG" not in note
