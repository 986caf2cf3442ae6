"""Verifiers and quality filters. Each filter is one class (see `base.Filter`) that scores a
polars batch of Trace rows into typed `score_<name>`/`verdict_<name>` columns and decides
`keep` from those scores with separate threshold knobs. The explicit registry `FILTERS` in
`registry.py` maps names to classes: a new filter is one class plus one line there.
"""
