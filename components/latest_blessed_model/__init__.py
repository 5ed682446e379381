"""The baseline step of an open-source KFP build: the latest blessed model of the pipeline."""
