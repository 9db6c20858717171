"""Typed, validated view of ``params.yaml``, one module per section (or group of small sections).

Import from here: ``from pipeline.config import Params, load_params``. ``python -m pipeline params``
prints every key with its type, default and description (:mod:`pipeline.config.schema`).
"""

from pipeline.config.base import BaseParams, ParamsError, Section
from pipeline.config.checks import ChecksParams
from pipeline.config.data import BinsParams, DataParams, NormalizeParams, PreprocessParams, SplitParams
from pipeline.config.ensemble import EnsembleParams
from pipeline.config.evaluate import EvaluateParams, RegistryParams, ReportParams
from pipeline.config.generate import (
    ARABIC_LETTER,
    LM_NAMES,
    DecodingParams,
    GenerateEvalParams,
    GenerateParams,
    GPT2Params,
    LMTokenizerParams,
    LMTrainParams,
    LSTMLMParams,
)
from pipeline.config.params import PARAMS_FILE, Params, load_params, parse_params
from pipeline.config.pretrained import FinetuneParams, PretrainParams
from pipeline.config.scrape import ScrapeParams
from pipeline.config.serve import ServeParams
from pipeline.config.train import EmbeddingsParams, TrainParams
from pipeline.config.trainer import EarlyStoppingParams, TrainerParams
from pipeline.config.tune import NOT_TUNABLE, SearchDim, TuneParams, check_search_space

__all__ = [
    "ARABIC_LETTER",
    "LM_NAMES",
    "NOT_TUNABLE",
    "PARAMS_FILE",
    "BaseParams",
    "BinsParams",
    "ChecksParams",
    "DataParams",
    "DecodingParams",
    "EarlyStoppingParams",
    "EmbeddingsParams",
    "EnsembleParams",
    "EvaluateParams",
    "FinetuneParams",
    "GPT2Params",
    "GenerateEvalParams",
    "GenerateParams",
    "LMTokenizerParams",
    "LMTrainParams",
    "LSTMLMParams",
    "NormalizeParams",
    "Params",
    "ParamsError",
    "PreprocessParams",
    "PretrainParams",
    "RegistryParams",
    "ReportParams",
    "ScrapeParams",
    "SearchDim",
    "Section",
    "ServeParams",
    "SplitParams",
    "TrainParams",
    "TrainerParams",
    "TuneParams",
    "check_search_space",
    "load_params",
    "parse_params",
]
