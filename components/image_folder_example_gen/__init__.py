"""ExampleGen that ingests a one-folder-per-class image tree."""
