"""Shadowing a candidate run on live traffic: the live side's sampled copies (forward.py, sent
after the answer by an internal Lambda extension, extension.py), the receiver that runs the
candidate on them (handler.py) and the comparison it keeps (comparison.py)."""
