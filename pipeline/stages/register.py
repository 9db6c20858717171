"""Stage **register**: the best classifier into the MLflow model registry, loadable by name.

The model is chosen by validation macro-F1 (``registry.select_by: val``, the default: the test split
was not used to choose it, so its test figures stay an unbiased estimate; ties go to fewer parameters,
then the name) or by test macro-F1 (``test``). It is logged as an ``mlflow.pyfunc`` model wrapping the
project's preprocessing and predictor, so raw Arabic text goes in::

    mlflow.pyfunc.load_model("models:/arabic-reviews-classifier@champion").predict(
        pandas.DataFrame({"text": ["الخدمة ممتازة"]}))

returns a DataFrame with ``label``, ``label_id``, ``confidence`` and one ``p_<label>`` column per class.
Every run registers its model as a new version (the challenger), carrying the test metrics, intervals,
provenance and the class shares of its corpus as tags and description. ``registry.alias`` (the champion)
moves to it only when the gate says so (:mod:`pipeline.evaluation.gate`: the TF-IDF floor of the same run,
``registry.min_f1_macro``, then McNemar against the champion re-scored on the same new test split).
``<reports_dir>/registry.json`` records the version, the ``decision`` (``first``/``promoted``/``kept``), its
``reason``, ``champion_version``, ``challenger_version``, the figures and ``sha256``: the checksum of each
pickled file of the logged model (``python_model.pkl``, ``model.joblib``) and one over all its files
(``all-files``: the stored code is imported when it loads), also set as version tags ``sha256/<path>``. The
pipeline (the gate, ``serve``) loads a version only through ``pipeline.serving.pyfunc.load_registered``, which
verifies them first; a plain ``mlflow.pyfunc.load_model`` does not (README, "What is trusted").
``<models_dir>/registered.json`` (name, version, alias, decision) is the same record kept out of git: a clone,
whose MLflow store is empty, lacks it and so registers again.
"""

from __future__ import annotations

from pipeline import cli
from pipeline.config import load_params
from pipeline.serving.registration import register


def main() -> None:
    cli.parser(__doc__).parse_args()
    register(load_params())


if __name__ == "__main__":
    cli.run(main)
