"""Reading pipeline runs from ML Metadata: history, results, step progress and run reports."""
