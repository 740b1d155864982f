"""`kefu eval`: datasets, metrics, the runner and the owner's HTML report."""
