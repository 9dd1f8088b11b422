"""The small decisions the GitHub workflows need, kept out of YAML so they are tested.

One module per thing the workflows ask, each wrapped by one or two CLI commands:
`outputs` (retrain-info, model-version, outcome), `smoke` (smoke), `lockcheck`
(lock-check; also compare's staleness check), `remote` (remote-check) and `advance`
(advance). Each function is pure or touches one thing (a file, one URL, one subprocess);
the workflows only wire the commands together.
"""
