"""Data validation report and gate component."""
