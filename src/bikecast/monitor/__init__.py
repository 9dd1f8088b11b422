"""`bikecast monitor`: the API's logged forecasts scored against the rentals that came true.

- scoring.py: join the log with the actual rentals; error per model version, day, station;
- decision.py: retrain_recommended and its reasons, from params.yaml `monitor`;
- report.py: the Markdown report (the workflow's job summary);
- run.py: read the log and the source, score, measure drift, decide, write.
"""
