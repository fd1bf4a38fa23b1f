"""The project's own tooling, outside the lesson: records, README, ablation, address.

`python -m tools.report`, `python -m tools.ablation` and `python -m tools.repo`
keep README's numbers, the ablation's tables and the repository's address in
step with the runs. tools imports utils; utils never imports tools.
"""
