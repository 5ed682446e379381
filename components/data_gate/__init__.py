"""Gate that stops the run when the data validation report found anomalies."""
