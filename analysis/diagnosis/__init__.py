"""Assembling a diagnosis: every metric of one run, from its folder, in one object.

:func:`~analysis.diagnosis.diagnose.diagnose_run` is the entry point; its result is a
:class:`~analysis.diagnosis.results.Diagnosis`, whose JSON form is
:func:`~analysis.diagnosis.to_json.diagnosis_to_json`.
"""
