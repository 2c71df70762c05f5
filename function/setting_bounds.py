"""The bounds of the function's settings, with no dependencies beyond the standard library.

`function/config.py` puts them on its `Settings` fields, and `infra/config.py` refuses context
outside them at synth, so a value `cdk synth` accepts is one the function accepts at init.
"""

from __future__ import annotations

from typing import Literal, get_args

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)

# Texts per request: a ceiling on one request's work (the body-size limit usually binds first).
MAX_TEXTS_MIN = 1
MAX_TEXTS_MAX = 10_000
MAX_TEXTS_DEFAULT = 64

# Characters per text; the request body limit (max_request_bytes) caps it in practice.
MAX_CHARS_MIN = 1
MAX_CHARS_DEFAULT = 20_000

# How a text longer than the model's window is read unless a request says (contract/encoder.py
# STRATEGIES); "auto" is the bundle's pick, measured by its training report.
LongTextStrategy = Literal["auto", "head+tail", "head", "tail", "chunks"]

# Model windows per request: the work a request may ask for (only 'chunks' reads a text in more
# than one window). The default runs inside Lambda's timeout and holds a full request of short
# reviews, one window each.
MAX_WINDOWS_MIN = 1
MAX_WINDOWS_MAX = 100_000
MAX_WINDOWS_DEFAULT = 128

# The confidence floor the request log counts against (`low_confidence`: predictions whose top
# score is below it), which infra/ turns into the canary's low-confidence alarm; 0 disables it.
CONFIDENCE_FLOOR_MIN = 0.0
CONFIDENCE_FLOOR_MAX = 1.0
CONFIDENCE_FLOOR_DEFAULT = 0.6

# Evidence words or phrases an explained prediction may ask for (explain_top_k), and how many it
# gets when it does not say.
MAX_EXPLAIN_TOP_K_MIN = 1
MAX_EXPLAIN_TOP_K_MAX = 1000
MAX_EXPLAIN_TOP_K_DEFAULT = 32
EXPLAIN_TOP_K_DEFAULT = 8

# The share of prediction requests copied to a shadowed candidate (function/shadow/forward.py).
SHADOW_SAMPLE_MIN = 0.0
SHADOW_SAMPLE_MAX = 1.0
SHADOW_SAMPLE_DEFAULT = 0.1

# The drift check's window (minutes) and the predictions it needs before a PSI means anything
# (contract/profile.py MIN_WINDOW_PREDICTIONS explains the 500).
DRIFT_WINDOW_MIN = 5
DRIFT_WINDOW_MAX = 1440
DRIFT_WINDOW_DEFAULT = 60
DRIFT_MIN_PREDICTIONS_MIN = 1
DRIFT_MIN_PREDICTIONS_DEFAULT = 500
