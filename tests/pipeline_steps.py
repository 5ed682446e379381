"""The step names a run shows, for tests that check which steps ran or were reused."""

DATA_STEPS = (
    "ImageFolderExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "DataValidationReport",
    "DataGate",
)
MODEL_STEPS = ("Transform", "Trainer", "Evaluator", "TestEvaluator", "Pusher", "TFLiteExporter")
