"""Research: what makes and judges bundles (training, evaluation, operating points, input-gate fitting,
ensembles, benchmarks). Reached through ``python -m skin_core <verb>`` and ``train.py``; the runtime
(``skin_core``) and the case history (``skin_core.cases``) never import it."""
