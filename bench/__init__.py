"""Benchmark harness of 银龄助手: ``.venv/bin/python -m bench.run [--quick] [--out bench/results]``.

One module per part: NLU (:mod:`bench.nlu`), retrieval quality and scale
(:mod:`bench.retrieval_scale`), end to end through the REST channel (:mod:`bench.e2e`,
driven by the load generator :mod:`bench.load`); :mod:`bench.report` writes the Markdown
report and the plots. Every figure in a report is measured in that run.
"""
